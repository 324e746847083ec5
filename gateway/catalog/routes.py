"""Public model name → ordered upstream targets, from the route table each process holds.

Each process keeps a copy of the table (gateway/stamps.py) over a Redis snapshot that all
share, rebuilt from the database on a miss. gateway/signals.py bumps the routes' stamp whenever a
route or provider is saved or deleted; the snapshot is keyed by the stamp, so an operator's remap
takes effect on the next request of every worker, and the hot path makes no round trip at all. It
holds no secret: a provider's token is resolved per process (gateway/models.py ProviderRecord).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from gateway import plain_data, stamps
from gateway.accounting.tokens import max_tokens_for
from gateway.errors import GatewayError
from gateway.models import ModelRoute, ProviderRecord, snapshot_shape

# A snapshot is keyed by the stamp it was built under, so an edit never leaves a stale one in
# use; the lifetime only lets unused ones go.
SNAPSHOT_SECONDS = 60
_RAW_PREFIXES = ("@cf/", "@hf/")


@dataclass(frozen=True)
class RouteTarget:
    route_id: int
    public_name: str
    task: str
    upstream_model: str
    provider: ProviderRecord
    context_window: int | None
    max_output_tokens: int | None
    supports_tools: bool
    supports_vision: bool
    supports_json_mode: bool
    reasoning: bool
    created: int  # unix seconds
    cache_ttl_seconds: int | None
    output_dimensions: int | None  # embedding routes


@dataclass(frozen=True)
class RouteTable:
    by_name: dict[str, tuple[RouteTarget, ...]]

    def names(self) -> list[str]:
        return sorted(self.by_name)


# The snapshot depends on GATEWAY_EXPOSE_RAW_MODELS, so the setting is part of its key: processes
# started with different values never serve each other's table. So is the shape of what it stores.
_SHAPE = snapshot_shape(RouteTable, RouteTarget, ProviderRecord)
_SNAPSHOT_KEYS = {True: f"routes:snapshot:{_SHAPE}:raw", False: f"routes:snapshot:{_SHAPE}:public"}


def is_raw_name(name: str) -> bool:
    return name.startswith(_RAW_PREFIXES)


def _build_table() -> RouteTable:
    rows = (
        ModelRoute.objects.filter(enabled=True, provider__enabled=True)
        .select_related("provider")
        .defer("provider__api_token")  # never in the snapshot: not even decrypted to build it
        .order_by("public_name", "priority", "id")
    )
    records: dict[int, ProviderRecord] = {}
    by_name: dict[str, list[RouteTarget]] = {}
    for row in rows:
        if is_raw_name(row.public_name) and not settings.GATEWAY_EXPOSE_RAW_MODELS:
            continue
        record = records.get(row.provider_id) or records.setdefault(row.provider_id, row.provider.record())
        by_name.setdefault(row.public_name, []).append(
            RouteTarget(
                route_id=row.pk,
                public_name=row.public_name,
                task=row.task,
                upstream_model=row.upstream_model,
                provider=record,
                context_window=row.context_window,
                max_output_tokens=row.max_output_tokens,
                supports_tools=row.supports_tools,
                supports_vision=row.supports_vision,
                supports_json_mode=row.supports_json_mode,
                reasoning=row.reasoning,
                created=int(row.created_at.timestamp()),
                cache_ttl_seconds=row.cache_ttl_seconds,
                output_dimensions=row.output_dimensions,
            )
        )
    return RouteTable({name: tuple(targets) for name, targets in by_name.items()})


def _shared_table(raw: object, stamp: str) -> RouteTable:
    key = f"{_SNAPSHOT_KEYS[bool(raw)]}:{stamp}"
    table = plain_data.from_stored(cache.get(key), RouteTable)
    if table is None:
        table = _build_table()
        cache.set(key, plain_data.to_plain(table), timeout=SNAPSHOT_SECONDS)
    return table


_TABLES: stamps.LocalCopies[RouteTable] = stamps.LocalCopies("routes", _shared_table)


def route_table() -> RouteTable:
    return _TABLES.get(settings.GATEWAY_EXPOSE_RAW_MODELS)


def invalidate() -> None:
    """Routes or providers changed (call once committed): every process reloads its table."""
    stamps.bump("routes")


def resolve_routes(public_name: str, task: str, principal_allows: bool) -> tuple[RouteTarget, ...]:
    """The enabled targets for a name on an endpoint's task, best first; errors as the envelope."""
    targets = route_table().by_name.get(public_name, ())
    # A model the key may not use answers exactly as one that does not exist: a restricted key
    # learns nothing of which other names are served (OpenAI answers so too).
    if not targets or not principal_allows:
        raise GatewayError(
            404,
            f"The model `{public_name}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    matching = tuple(target for target in targets if target.task == task)
    if not matching:
        raise GatewayError(
            400,
            f"The model `{public_name}` does not serve this endpoint (it is a {targets[0].task} model).",
            param="model",
            code="model_not_supported",
        )
    return matching


def completion_bound(targets: Iterable[RouteTarget], requested: int | None, prompt_estimate: int) -> int:
    """The most any of `targets` may generate for one choice of this prompt (README "Context
    windows and max_tokens"); a route the prompt does not fit is skipped: its call will say so."""
    bounds = []
    for target in targets:
        try:
            cap = max_tokens_for(
                requested=requested,
                prompt_estimate=prompt_estimate,
                context_window=target.context_window,
                max_output_tokens=target.max_output_tokens,
            )
        except GatewayError:
            continue
        bounds.append(cap or 0)
    return max(bounds, default=requested or 0)
