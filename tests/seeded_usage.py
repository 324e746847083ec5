"""A small known ledger for the dashboard tests: two keys, two models, errors, three days.

Everything the dashboard shows for it is worked out by hand below (percentiles are linear
interpolation between the closest ranks, as Postgres' percentile_cont computes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from itertools import count

from conftest import make_key

from gateway.models import ApiKey, UsageRecord

_ids = count()


@dataclass(frozen=True)
class Seeded:
    alpha: ApiKey
    beta: ApiKey
    today: datetime  # 10:00 UTC today


def has_cost() -> bool:
    return any(field.name == "cost_usd" for field in UsageRecord._meta.get_fields())


def record(
    key: ApiKey | None,
    model: str,
    status: int,
    when: datetime,
    *,
    prompt: int = 0,
    completion: int = 0,
    latency: int = 0,
    cost: str = "0",
    provider: str = "",
) -> UsageRecord:
    fields: dict[str, object] = {}
    if has_cost():
        fields["cost_usd"] = Decimal(cost)
    return UsageRecord.objects.create(
        request_id=f"req_dash_{next(_ids)}",
        api_key=key,
        key_prefix=key.prefix if key else "",
        endpoint="chat.completions",
        public_model=model,
        provider=provider,
        status=status,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        latency_ms=latency,
        created_at=when,
        **fields,
    )


def seed_usage() -> Seeded:
    """Five records in the default range (the last 7 days) and one older that must not count.

    by key   alpha: 3 requests, 1 error, 15+25=40 tokens, latency [50, 100, 300] → p50 100, p95 280
             beta:  2 requests, 1 error,  7+3=10 tokens,  latency [10, 210]      → p50 110, p95 200
    by model gpt-4:       2 requests, 0 errors, 40 tokens, latency [100, 300]     → p50 200, p95 290
             gpt-4o-mini: 3 requests, 2 errors, 10 tokens, latency [10, 50, 210]  → p50 50,  p95 194
    cost     alpha 0.0035, beta 0.0010; gpt-4 0.0035, gpt-4o-mini 0.0010 (when cost_usd exists)
    """
    make_key("alpha")
    make_key("beta")
    alpha, beta = ApiKey.objects.get(name="alpha"), ApiKey.objects.get(name="beta")
    today = datetime.combine(datetime.now(UTC).date(), time(10), tzinfo=UTC)
    day1, day3 = today - timedelta(days=1), today - timedelta(days=3)
    record(alpha, "gpt-4", 200, day1, prompt=10, completion=20, latency=100, cost="0.0030")
    record(alpha, "gpt-4", 200, day3, prompt=5, completion=5, latency=300, cost="0.0005")
    record(alpha, "gpt-4o-mini", 500, day1 + timedelta(hours=2), latency=50)
    record(beta, "gpt-4o-mini", 200, day1, prompt=7, completion=3, latency=210, cost="0.0010")
    record(beta, "gpt-4o-mini", 429, day3, latency=10)
    record(alpha, "gpt-4", 200, today - timedelta(days=10), prompt=1000, completion=1000, latency=9999, cost="9")
    return Seeded(alpha=alpha, beta=beta, today=today)
