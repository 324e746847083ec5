"""One key's usage over a range of UTC days, from the ledger and its daily roll-ups.

`manage.py prune_usage` folds old UsageRecords into UsageRollup rows; every total here adds
both tables, so a report reads the same before and after a prune.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from gateway.access.auth import KeyPrincipal
from gateway.models import UsageRecord, UsageRollup


@dataclass
class UsageTotals:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    audio_seconds: float = 0.0  # transcribed or translated
    characters: int = 0  # spoken (text to speech)
    images: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)
    cost_saved_usd: Decimal = field(default_factory=Decimal)
    cached_requests: int = 0  # answered from the response cache: cost_saved_usd, not cost_usd
    estimated_requests: int = 0  # tokens estimated by the gateway: the upstream reported none
    unpriced_requests: int = 0  # no price known for the model: not counted in cost_usd

    def add(self, row: dict[str, Any]) -> None:
        for spec in fields(self):
            setattr(self, spec.name, getattr(self, spec.name) + (row.get(_AS + spec.name) or 0))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        body["cost_usd"] = float(self.cost_usd)
        body["cost_saved_usd"] = float(self.cost_saved_usd)
        return body


@dataclass(frozen=True)
class UsageReport:
    start: date
    end: date  # inclusive
    totals: UsageTotals
    by_model: dict[str, UsageTotals]


def _zero(expression: Any) -> Coalesce:
    return Coalesce(expression, 0)


# Annotations are named apart from the fields they sum: a Sum named `cost_usd` would be what a
# later filter on `cost_usd` reads.
_AS = "sum_"


_RECORD_SUMS = {
    "requests": Count("id"),
    "errors": Count("id", filter=Q(status__gte=400)),
    "prompt_tokens": _zero(Sum("prompt_tokens")),
    "completion_tokens": _zero(Sum("completion_tokens")),
    "total_tokens": _zero(Sum("total_tokens")),
    "audio_seconds": Coalesce(Sum("audio_seconds"), 0.0),
    "characters": _zero(Sum("characters")),
    "images": _zero(Sum("images")),
    "cost_usd": Sum("cost_usd"),
    "cost_saved_usd": Sum("cost_saved_usd"),
    "cached_requests": Count("id", filter=Q(cached=True)),
    "estimated_requests": Count("id", filter=Q(usage_estimated=True)),
    "unpriced_requests": Count("id", filter=Q(cost_usd__isnull=True)),
}

_ROLLUP_SUMS = {
    "requests": _zero(Sum("requests")),
    "errors": _zero(Sum("requests", filter=Q(status__gte=400))),
    "prompt_tokens": _zero(Sum("prompt_tokens")),
    "completion_tokens": _zero(Sum("completion_tokens")),
    "total_tokens": _zero(Sum("total_tokens")),
    "audio_seconds": Coalesce(Sum("audio_seconds"), 0.0),
    "characters": _zero(Sum("characters")),
    "images": _zero(Sum("images")),
    "cost_usd": Sum("cost_usd"),
    "cost_saved_usd": Sum("cost_saved_usd"),
    "cached_requests": _zero(Sum("requests", filter=Q(cached=True))),
    "estimated_requests": _zero(Sum("estimated_requests")),
    "unpriced_requests": _zero(Sum("unpriced_requests")),
}


def _owned_by(queryset: QuerySet[Any], principal: KeyPrincipal) -> QuerySet[Any]:
    if principal.key_id is not None:
        return queryset.filter(api_key_id=principal.key_id)
    # The static ACCESS_TOKEN has no row: its records are the key-less ones under its prefix
    # (requests refused before authentication are key-less too, with no prefix).
    return queryset.filter(api_key__isnull=True, key_prefix=principal.prefix)


def usage_report(*, principal: KeyPrincipal, start: date, end: date, upstream_only: bool = False) -> UsageReport:
    """Totals and per public model for the UTC days start..end, both included; `upstream_only`
    leaves out answers from the response cache (what a quota counts)."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    records = _owned_by(UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until), principal)
    rollups = _owned_by(UsageRollup.objects.filter(day__gte=start, day__lte=end), principal)
    if upstream_only:
        records, rollups = records.filter(cached=False), rollups.filter(cached=False)
    totals, by_model = UsageTotals(), {}
    for queryset, sums in ((records, _RECORD_SUMS), (rollups, _ROLLUP_SUMS)):
        annotations = {_AS + name: expression for name, expression in sums.items()}
        for row in queryset.order_by().values("public_model").annotate(**annotations):
            by_model.setdefault(row["public_model"], UsageTotals()).add(row)
            totals.add(row)
    return UsageReport(start=start, end=end, totals=totals, by_model=dict(sorted(by_model.items())))
