"""Per-key budgets: tokens and USD per UTC day or month (README "Limits and quotas").

A budget is a Redis counter for the current period (gateway/accounting/counters.py). Admission reserves the
request's upper bound against it atomically, so concurrent requests on any worker cannot together
pass it; settle (gateway/accounting/ledger.py) replaces the reservation with what was actually used. Redis is
a cache, so a counter found missing is first seeded from the usage ledger for the period.

USD is counted in micro-dollars (Redis counters are integers) through gateway/accounting/pricing.py. A model
with no price costs nothing against a USD budget: unknown is not free, but refusing every request
to an unpriced model would be worse; the token budget still applies to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from gateway.access.auth import KeyPrincipal
from gateway.accounting import pricing, spool
from gateway.accounting.counters import Counter, redis
from gateway.accounting.entry import Demand
from gateway.errors import GatewayError
from gateway.models import UsageRecord, UsageRollup

TOKENS = "tokens"
USD = "usd"
_MICROS = Decimal(1_000_000)
_GRACE = 3600  # seconds a counter outlives its period, so settles of late streams still land


@dataclass(frozen=True)
class Period:
    kind: str  # "day" | "month"
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m-%d" if self.kind == "day" else "%Y-%m")


def current_period(kind: str, now: datetime | None = None) -> Period:
    now = (now or timezone.now()).astimezone(UTC)
    if kind == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return Period(kind, start, start + timedelta(days=1))
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return Period("month", start, end)


@dataclass(frozen=True)
class Budget:
    unit: str  # TOKENS | USD (in micro-dollars)
    counter: Counter
    period: Period
    key_id: int


def budgets_for(principal: KeyPrincipal) -> list[Budget]:
    if principal.key_id is None or (principal.quota_tokens is None and principal.quota_usd is None):
        return []
    period = current_period(principal.quota_period)
    ttl = int((period.end - timezone.now()).total_seconds()) + _GRACE
    budgets = []
    if principal.quota_tokens is not None:
        name = f"quota:{principal.key_id}:{TOKENS}:{period.label}"
        budgets.append(Budget(TOKENS, Counter(name, principal.quota_tokens, ttl), period, principal.key_id))
    if principal.quota_usd is not None:
        name = f"quota:{principal.key_id}:{USD}:{period.label}"
        limit = int(principal.quota_usd * _MICROS)
        budgets.append(Budget(USD, Counter(name, limit, ttl), period, principal.key_id))
    return budgets


def seed_missing(budgets: list[Budget]) -> None:
    """A counter Redis lost (or never had) starts from the ledger's total for the period.

    SET NX: when two workers seed at once, both computed the same sum and one write wins.
    """
    client = redis()
    for budget in budgets:
        key = budget.counter.redis_key
        if client.exists(key):
            continue
        # Records and the daily roll-ups prune_usage made of older records: a period is whole
        # days, so a rolled-up day is either all inside it or all outside.
        records = UsageRecord.objects.filter(
            api_key_id=budget.key_id, created_at__gte=budget.period.start, cached=False
        )
        rollups = UsageRollup.objects.filter(
            api_key_id=budget.key_id, day__gte=budget.period.start.date(), cached=False
        )
        field = "total_tokens" if budget.unit == TOKENS else "cost_usd"
        total = (records.aggregate(total=Sum(field))["total"] or 0) + (
            rollups.aggregate(total=Sum(field))["total"] or 0
        )
        total += _spooled(budget)
        spent = total if budget.unit == TOKENS else micros(Decimal(total))
        client.set(key, spent, nx=True, ex=budget.counter.ttl)


def _spooled(budget: Budget) -> int | Decimal:
    """What the budget's key spent in records still on their way to the database (the spool is
    drained within moments, so this is short; a record both spooled and written counts once)."""
    since = budget.period.start.timestamp()
    rows = [
        row
        for row in spool.spooled_rows()
        if row.get("api_key_id") == budget.key_id and not row.get("cached") and (row.get("created_at") or 0) >= since
    ]
    written = set(
        UsageRecord.objects.filter(request_id__in=[row["request_id"] for row in rows]).values_list(
            "request_id", flat=True
        )
    )
    rows = [row for row in rows if row["request_id"] not in written]
    if budget.unit == TOKENS:
        return sum(int(row.get("prompt_tokens") or 0) + int(row.get("completion_tokens") or 0) for row in rows)
    prices = pricing.price_table()
    total = Decimal(0)
    for row in rows:
        used = pricing.Consumption(
            int(row.get("prompt_tokens") or 0),
            int(row.get("completion_tokens") or 0),
            float(row.get("audio_seconds") or 0),
            int(row.get("images") or 0),
            int(row.get("characters") or 0),
        )
        total += pricing.cost_of(row.get("upstream_model") or "", used, table=prices) or Decimal(0)
    return total


def micros(usd: Decimal | None) -> int:
    return math.ceil((usd or Decimal(0)) * _MICROS)


def charge(budget: Budget, *, tokens: int, upstream_model: str, demand: Demand) -> int:
    """What a request of this size draws from the budget, in the budget's unit: its tokens, or the
    price of the most it may use (the prompt, the completion bound, its audio, images and characters)."""
    if budget.unit == TOKENS:
        return tokens
    most = pricing.Consumption(
        demand.prompt_tokens, demand.completion_bound, demand.audio_seconds, demand.images, demand.characters
    )
    return micros(pricing.cost_of(upstream_model, most))


def refusal(budget: Budget, used: int, amount: int, headers: dict[str, str]) -> GatewayError:
    period = "daily" if budget.period.kind == "day" else "monthly"
    resets = budget.period.end.strftime("%Y-%m-%d %H:%M UTC")
    if budget.unit == TOKENS:
        left = max(budget.counter.limit - used, 0)
        message = (
            f"You exceeded your current quota: this key's {period} budget is {budget.counter.limit} tokens and "
            f"{left} remain, but this request could use up to {amount} (its prompt plus max_tokens). "
            f"Lower max_tokens, or wait for the budget to reset at {resets}."
        )
    else:
        limit, left = Decimal(budget.counter.limit) / _MICROS, Decimal(max(budget.counter.limit - used, 0)) / _MICROS
        message = (
            f"You exceeded your current quota: this key's {period} budget is ${limit:.4f} and ${left:.4f} "
            f"remains, but this request could cost up to ${Decimal(amount) / _MICROS:.4f}. "
            f"Lower max_tokens, or wait for the budget to reset at {resets}."
        )
    retry = max(1, math.ceil((budget.period.end - timezone.now()).total_seconds()))
    return GatewayError(
        429,
        message,
        type="insufficient_quota",
        code="insufficient_quota",
        # x-should-retry: the openai SDKs would otherwise retry a 429 (openai-python's _base_client.py
        # reads this header before its own retry rules).
        headers={**headers, "Retry-After": str(retry), "x-should-retry": "false"},
    )
