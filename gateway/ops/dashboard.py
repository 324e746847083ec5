"""Usage dashboard queries: the ledger (UsageRecord) aggregated into typed series and rows.

Each chart or table is one aggregate query over the records, plus one over the daily roll-ups
(UsageRollup) that `prune_usage` left in place of older records; the two are added per group.
Latency percentiles are Postgres' ordered-set aggregate `percentile_cont`, computed in the
database over the records of each group: roll-ups keep no latencies, so rolled-up days add to
every count, token and cost but to no percentile. A roll-up is one UTC day, so with hourly
buckets it is placed at 00:00 of its day.
Cost is read from `UsageRecord.cost_usd` when the model has it; before that column exists
every cost is None and the page says so.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Aggregate, Count, DecimalField, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from gateway.models import UsageRecord
from gateway.ops.dashboard_filter import DashboardFilter
from gateway.ops.number_format import money

TOP_MODELS = 6  # models drawn as their own line over time; the rest add up to "other"
OTHER = "other"
# Requests refused before a model was chosen (401, 404 for an unknown URL, a malformed body, …)
# have an empty public_model: a series and a row of their own, never a model nor part of "other".
NO_MODEL = "no model: refused before routing"
NO_PROVIDER = "no provider: no upstream called"  # refused before a route was chosen

CLIENT_ERROR = Q(status__gte=400, status__lt=500)
SERVER_ERROR = Q(status__gte=500)

K = TypeVar("K", bound=Hashable)


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


@dataclass(frozen=True)
class Stats:
    """What one group of records adds up to."""

    requests: int
    errors: int  # status ≥ 400
    client_errors: int  # 4xx: the request was refused (auth, limits, a bad request)
    server_errors: int  # 5xx: the upstream or the gateway failed
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

    @property
    def client_error_rate(self) -> float:
        return self.client_errors / self.requests if self.requests else 0.0

    @property
    def server_error_rate(self) -> float:
        return self.server_errors / self.requests if self.requests else 0.0

    @property
    def client_error_percent(self) -> float:
        return 100 * self.client_error_rate

    @property
    def server_error_percent(self) -> float:
        return 100 * self.server_error_rate

    @property
    def cost_text(self) -> str:
        """The cost as tables show it: significant digits, never $0.0000 for a non-zero amount."""
        return money(self.cost_usd)


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
    by_provider: list[Row] = field(default_factory=list)  # the provider of the route that answered
    rolled_up_days: int = 0  # days with roll-ups in the range: counted everywhere, without latency


def _stat_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {
        "requests": Count("id"),
        "errors": Count("id", filter=Q(status__gte=400)),
        "client_errors": Count("id", filter=CLIENT_ERROR),
        "server_errors": Count("id", filter=SERVER_ERROR),
        "prompt": Coalesce(Sum("prompt_tokens"), 0),
        "completion": Coalesce(Sum("completion_tokens"), 0),
        "tokens": Coalesce(Sum("total_tokens"), 0),
        "p50": Percentile("latency_ms", 0.5),
        "p95": Percentile("latency_ms", 0.95),
    }
    if has_cost():
        aggregates["cost"] = _cost_sum()
    return aggregates


def _rollup_aggregates() -> dict[str, Any]:
    """What `_stat_aggregates` sums, over roll-ups: each row stands for `requests` requests.

    The count is named `calls`, as an aggregate may not share its name with the field it sums.
    """
    aggregates: dict[str, Any] = {
        "calls": Coalesce(Sum("requests"), 0),
        "errors": Coalesce(Sum("requests", filter=Q(status__gte=400)), 0),
        "client_errors": Coalesce(Sum("requests", filter=CLIENT_ERROR), 0),
        "server_errors": Coalesce(Sum("requests", filter=SERVER_ERROR), 0),
        "prompt": Coalesce(Sum("prompt_tokens"), 0),
        "completion": Coalesce(Sum("completion_tokens"), 0),
        "tokens": Coalesce(Sum("total_tokens"), 0),
    }
    if has_cost():
        aggregates["cost"] = _cost_sum()
    return aggregates


def _cost_sum() -> Coalesce:
    money = DecimalField(max_digits=28, decimal_places=10)
    return Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=money)


def _stats(row: dict[str, Any]) -> Stats:
    return Stats(
        requests=row["requests"] if "requests" in row else row["calls"],
        errors=row["errors"],
        client_errors=row["client_errors"],
        server_errors=row["server_errors"],
        prompt_tokens=row["prompt"],
        completion_tokens=row["completion"],
        total_tokens=row["tokens"],
        cost_usd=row.get("cost"),
        p50_ms=row.get("p50"),  # roll-ups have none
        p95_ms=row.get("p95"),
    )


def _add(records: Stats, rollups: Stats) -> Stats:
    """Records' and roll-ups' figures added up; the percentiles stay the records' alone."""
    cost = records.cost_usd
    if rollups.cost_usd is not None:
        cost = (cost or Decimal(0)) + rollups.cost_usd
    return Stats(
        requests=records.requests + rollups.requests,
        errors=records.errors + rollups.errors,
        client_errors=records.client_errors + rollups.client_errors,
        server_errors=records.server_errors + rollups.server_errors,
        prompt_tokens=records.prompt_tokens + rollups.prompt_tokens,
        completion_tokens=records.completion_tokens + rollups.completion_tokens,
        total_tokens=records.total_tokens + rollups.total_tokens,
        cost_usd=cost,
        p50_ms=records.p50_ms,
        p95_ms=records.p95_ms,
    )


def _combine(records: Iterable[tuple[K, Stats]], rollups: Iterable[tuple[K, Stats]]) -> dict[K, Stats]:
    """Groups of records and of roll-ups by the same key, added where both have one; records' order first."""
    found = dict(records)
    for key, stats in rollups:
        found[key] = _add(found[key], stats) if key in found else stats
    return found


def _day_start(day: date) -> datetime:
    """Where a roll-up's day goes on the time axis: its day's bucket, or 00:00 of it per hour."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _order_key(row: Row) -> tuple[int, str]:
    return (-row.stats.requests, row.label)


def build_dashboard(selection: DashboardFilter) -> Dashboard:
    records = selection.records()
    rollups = selection.rollups()
    aggregates = _stat_aggregates()
    rolled = _rollup_aggregates()
    totals = _add(_stats(records.aggregate(**aggregates)), _stats(rollups.aggregate(**rolled)))

    bucketed = records.annotate(bucket=Trunc("created_at", selection.bucket, tzinfo=UTC))
    per_day = list(rollups.values("day").annotate(**rolled))
    found = _combine(
        ((row["bucket"], _stats(row)) for row in bucketed.values("bucket").annotate(**aggregates)),
        ((_day_start(row["day"]), _stats(row)) for row in per_day),
    )
    empty = Stats(0, 0, 0, 0, 0, 0, 0, Decimal(0) if has_cost() else None, None, None)
    over_time = [Point(at=at, stats=found.get(at, empty)) for at in selection.buckets()]

    model_sums = {"requests": Count("id"), "tokens": Coalesce(Sum("total_tokens"), 0)}
    rollup_model_sums = {"calls": Coalesce(Sum("requests"), 0), "tokens": Coalesce(Sum("total_tokens"), 0)}
    if has_cost():
        model_sums["cost"] = rollup_model_sums["cost"] = _cost_sum()
    per_model: dict[tuple[datetime, str], ModelPoint] = {}
    for row in bucketed.values("bucket", "public_model").annotate(**model_sums).order_by("bucket", "public_model"):
        point = ModelPoint(row["bucket"], row["public_model"], row["requests"], row["tokens"], row.get("cost"))
        per_model[(point.at, point.model)] = point
    rolled_models = rollups.values("day", "public_model").annotate(**rollup_model_sums).order_by("day", "public_model")
    for row in rolled_models:
        at, model = _day_start(row["day"]), row["public_model"]
        known = per_model.get((at, model))
        cost = row.get("cost")
        if known is not None:
            cost = None if cost is None else (known.cost_usd or Decimal(0)) + cost
            point = ModelPoint(at, model, known.requests + row["calls"], known.total_tokens + row["tokens"], cost)
        else:
            point = ModelPoint(at, model, row["calls"], row["tokens"], cost)
        per_model[(at, model)] = point
    # A stable sort by bucket keeps the database's order of models within each bucket.
    by_model_over_time = [
        ModelPoint(point.at, point.model or NO_MODEL, point.requests, point.total_tokens, point.cost_usd)
        for point in sorted(per_model.values(), key=lambda point: point.at)
    ]

    def keyed(queryset: QuerySet[Any], sums: dict[str, Any]) -> Iterable[tuple[tuple[str, str], Stats]]:
        named = queryset.annotate(key_name=Coalesce(F("api_key__name"), Value(""))).values("key_name", "key_prefix")
        return (((row["key_name"], row["key_prefix"]), _stats(row)) for row in named.annotate(**sums))

    by_key = sorted(
        (
            Row(label=_key_label(name, prefix), stats=stats)
            for (name, prefix), stats in _combine(keyed(records, aggregates), keyed(rollups, rolled)).items()
        ),
        key=_order_key,
    )
    models = _combine(
        ((row["public_model"], _stats(row)) for row in records.values("public_model").annotate(**aggregates)),
        ((row["public_model"], _stats(row)) for row in rollups.values("public_model").annotate(**rolled)),
    )
    by_model = sorted((Row(label=model or NO_MODEL, stats=stats) for model, stats in models.items()), key=_order_key)
    providers = _combine(
        ((row["provider"], _stats(row)) for row in records.values("provider").annotate(**aggregates)),
        ((row["provider"], _stats(row)) for row in rollups.values("provider").annotate(**rolled)),
    )
    by_provider = sorted(
        (Row(label=name or NO_PROVIDER, stats=stats) for name, stats in providers.items()), key=_order_key
    )
    return Dashboard(
        selection,
        totals,
        over_time,
        by_model_over_time,
        by_key,
        by_model,
        cost_known=has_cost(),
        rolled_up_days=len({row["day"] for row in per_day}),
        by_provider=by_provider,
    )


def _key_label(name: str, prefix: str) -> str:
    if name and prefix:
        return f"{name} ({prefix}…)"
    if prefix:
        return f"{prefix}… (deleted key)"
    return name or "(no key)"


def top_models(dashboard: Dashboard) -> list[str]:
    """The series drawn on their own: the busiest few models, then NO_MODEL if any; the rest add up to OTHER."""
    models = [row.label for row in dashboard.by_model if row.label != NO_MODEL]
    refused = [NO_MODEL] if any(row.label == NO_MODEL for row in dashboard.by_model) else []
    return models[:TOP_MODELS] + refused


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
    """Records per bucket, key and model, plus roll-ups per day (at 00:00 when per hour), added up."""
    grouped = (
        selection.records()
        .annotate(bucket=Trunc("created_at", selection.bucket, tzinfo=UTC))
        .annotate(key_name=Coalesce(F("api_key__name"), Value("")))
        .values("bucket", "key_name", "key_prefix", "public_model")
        .annotate(**_stat_aggregates())
        .order_by("bucket", "key_name", "key_prefix", "public_model")
    )
    rolled = (
        selection.rollups()
        .annotate(key_name=Coalesce(F("api_key__name"), Value("")))
        .values("day", "key_name", "key_prefix", "public_model")
        .annotate(**_rollup_aggregates())
        .order_by("day", "key_name", "key_prefix", "public_model")
    )
    found = _combine(
        (((row["bucket"], row["key_name"], row["key_prefix"], row["public_model"]), _stats(row)) for row in grouped),
        (
            ((_day_start(row["day"]), row["key_name"], row["key_prefix"], row["public_model"]), _stats(row))
            for row in rolled
        ),
    )
    # A stable sort by bucket keeps the database's order of keys and models within each bucket.
    return [ExportRow(*group, stats) for group, stats in sorted(found.items(), key=lambda item: item[0][0])]
