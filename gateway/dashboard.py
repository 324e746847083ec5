"""Usage dashboard queries: the ledger (UsageRecord) aggregated into typed series and rows.

Each chart or table is one aggregate query. Latency percentiles are Postgres' ordered-set
aggregate `percentile_cont`, computed in the database over the records of each group.
Cost is read from `UsageRecord.cost_usd` when the model has it; before that column exists
every cost is None and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Aggregate, Count, DecimalField, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from gateway.models import ApiKey, UsageRecord

DEFAULT_DAYS = 7
MAX_DAYS = 366
HOURLY_UP_TO = timedelta(days=2)
TOP_MODELS = 6  # models drawn as their own line over time; the rest add up to "other"
OTHER = "other"


class Percentile(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: a continuous percentile."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"a percentile fraction is within [0, 1], not {fraction}")
        super().__init__(expression, fraction=float(fraction))


def has_cost() -> bool:
    return any(field.name == "cost_usd" for field in UsageRecord._meta.get_fields())


class DashboardForm(forms.Form):
    """The date range (inclusive days, UTC) and the optional key and model filters."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    key = forms.ModelChoiceField(queryset=ApiKey.objects.order_by("name"), required=False, empty_label="all keys")
    model = forms.ChoiceField(required=False)

    def __init__(self, data: Any = None) -> None:
        today = datetime.now(UTC).date()
        initial = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
        # Missing fields fall back to the defaults, so a bare URL and a filtered one both validate.
        merged = {**{name: value.isoformat() for name, value in initial.items()}, **_present(data)}
        super().__init__(merged, initial=initial)
        models = UsageRecord.objects.exclude(public_model="").values_list("public_model", flat=True)
        choices = [("", "all models")] + [(name, name) for name in models.distinct().order_by("public_model")]
        self.fields["model"].choices = choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The start date is after the end date.")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def dashboard_filter(self) -> DashboardFilter:
        data = self.cleaned_data
        key: ApiKey | None = data.get("key")
        return DashboardFilter.for_days(data["start"], data["end"], key=key, model=data.get("model") or "")


def _present(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    return {name: data.get(name) for name in ("start", "end", "key", "model") if data.get(name)}


@dataclass(frozen=True)
class DashboardFilter:
    start: datetime  # inclusive
    end: datetime  # exclusive
    key: ApiKey | None = None
    model: str = ""

    @classmethod
    def for_days(cls, first: date, last: date, *, key: ApiKey | None = None, model: str = "") -> DashboardFilter:
        start = datetime.combine(first, time.min, tzinfo=UTC)
        return cls(
            start=start, end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC), key=key, model=model
        )

    @property
    def bucket(self) -> str:
        return "hour" if self.end - self.start <= HOURLY_UP_TO else "day"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)

    def buckets(self) -> list[datetime]:
        moments, moment = [], self.start
        while moment < self.end:
            moments.append(moment)
            moment += self.step
        return moments

    def records(self) -> QuerySet[UsageRecord]:
        records = UsageRecord.objects.filter(created_at__gte=self.start, created_at__lt=self.end)
        if self.key is not None:
            records = records.filter(api_key=self.key)
        if self.model:
            records = records.filter(public_model=self.model)
        return records

    def query_string(self) -> str:
        from urllib.parse import urlencode

        params = {"start": self.start.date().isoformat(), "end": (self.end - timedelta(days=1)).date().isoformat()}
        if self.key is not None:
            params["key"] = str(self.key.pk)
        if self.model:
            params["model"] = self.model
        return urlencode(params)


@dataclass(frozen=True)
class Stats:
    """What one group of records adds up to."""

    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: Decimal | None
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def error_percent(self) -> float:
        return 100 * self.error_rate


@dataclass(frozen=True)
class Row:
    """One line of the by-key or by-model table."""

    label: str
    stats: Stats


@dataclass(frozen=True)
class Point:
    at: datetime
    stats: Stats


@dataclass(frozen=True)
class ModelPoint:
    at: datetime
    model: str
    requests: int
    total_tokens: int
    cost_usd: Decimal | None


@dataclass(frozen=True)
class Dashboard:
    filter: DashboardFilter
    totals: Stats
    over_time: list[Point]  # one per bucket, empty buckets included
    by_model_over_time: list[ModelPoint]  # only buckets with records
    by_key: list[Row]
    by_model: list[Row]
    cost_known: bool


def _stat_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {
        "requests": Count("id"),
        "errors": Count("id", filter=Q(status__gte=400)),
        "prompt": Coalesce(Sum("prompt_tokens"), 0),
        "completion": Coalesce(Sum("completion_tokens"), 0),
        "tokens": Coalesce(Sum("total_tokens"), 0),
        "p50": Percentile("latency_ms", 0.5),
        "p95": Percentile("latency_ms", 0.95),
    }
    if has_cost():
        aggregates["cost"] = _cost_sum()
    return aggregates


def _cost_sum() -> Coalesce:
    money = DecimalField(max_digits=28, decimal_places=10)
    return Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=money)


def _stats(row: dict[str, Any]) -> Stats:
    return Stats(
        requests=row["requests"],
        errors=row["errors"],
        prompt_tokens=row["prompt"],
        completion_tokens=row["completion"],
        total_tokens=row["tokens"],
        cost_usd=row.get("cost"),
        p50_ms=row["p50"],
        p95_ms=row["p95"],
    )


def _order_key(row: Row) -> tuple[int, str]:
    return (-row.stats.requests, row.label)


def build_dashboard(selection: DashboardFilter) -> Dashboard:
    records = selection.records()
    aggregates = _stat_aggregates()
    totals = _stats(records.aggregate(**aggregates))

    bucketed = records.annotate(bucket=Trunc("created_at", selection.bucket, tzinfo=UTC))
    found = {row["bucket"]: _stats(row) for row in bucketed.values("bucket").annotate(**aggregates)}
    empty = Stats(0, 0, 0, 0, 0, Decimal(0) if has_cost() else None, None, None)
    over_time = [Point(at=at, stats=found.get(at, empty)) for at in selection.buckets()]

    per_model = bucketed.values("bucket", "public_model").annotate(
        requests=Count("id"), tokens=Coalesce(Sum("total_tokens"), 0), **({"cost": _cost_sum()} if has_cost() else {})
    )
    by_model_over_time = [
        ModelPoint(row["bucket"], row["public_model"] or "(none)", row["requests"], row["tokens"], row.get("cost"))
        for row in per_model.order_by("bucket", "public_model")
    ]

    keyed = records.annotate(key_name=Coalesce(F("api_key__name"), Value(""))).values("key_name", "key_prefix")
    by_key = sorted(
        (
            Row(label=_key_label(row["key_name"], row["key_prefix"]), stats=_stats(row))
            for row in keyed.annotate(**aggregates)
        ),
        key=_order_key,
    )
    by_model = sorted(
        (
            Row(label=row["public_model"] or "(none)", stats=_stats(row))
            for row in records.values("public_model").annotate(**aggregates)
        ),
        key=_order_key,
    )
    return Dashboard(selection, totals, over_time, by_model_over_time, by_key, by_model, cost_known=has_cost())


def _key_label(name: str, prefix: str) -> str:
    if name and prefix:
        return f"{name} ({prefix}…)"
    if prefix:
        return f"{prefix}… (deleted key)"
    return name or "(no key)"


def top_models(dashboard: Dashboard) -> list[str]:
    """The models drawn as their own series: the busiest few; the rest are summed as OTHER."""
    return [row.label for row in dashboard.by_model[:TOP_MODELS]]


def model_series(dashboard: Dashboard, value: str) -> dict[str, list[float]]:
    """Per-model values (`requests`, `total_tokens` or `cost_usd`) aligned with the time buckets."""
    index = {point.at: position for position, point in enumerate(dashboard.over_time)}
    shown = top_models(dashboard)
    series: dict[str, list[float]] = {name: [0.0] * len(index) for name in shown}
    for point in dashboard.by_model_over_time:
        name = point.model if point.model in shown else OTHER
        line = series.setdefault(name, [0.0] * len(index))
        line[index[point.at]] += float(getattr(point, value) or 0)
    return series


@dataclass(frozen=True)
class ExportRow:
    """One CSV line: what one key spent on one model in one time bucket."""

    at: datetime
    key_name: str
    key_prefix: str
    model: str
    stats: Stats


def export_rows(selection: DashboardFilter) -> list[ExportRow]:
    grouped = (
        selection.records()
        .annotate(bucket=Trunc("created_at", selection.bucket, tzinfo=UTC))
        .annotate(key_name=Coalesce(F("api_key__name"), Value("")))
        .values("bucket", "key_name", "key_prefix", "public_model")
        .annotate(**_stat_aggregates())
        .order_by("bucket", "key_name", "key_prefix", "public_model")
    )
    return [
        ExportRow(row["bucket"], row["key_name"], row["key_prefix"], row["public_model"], _stats(row))
        for row in grouped
    ]
