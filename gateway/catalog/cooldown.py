"""Cooldown: a route failing repeatedly is skipped for a while, by every worker (a circuit breaker).

State lives in Redis under the cache prefix, so every gunicorn worker, replica and Celery worker
shares it:
- `cooldown:fails:<route id>` counts the route's failures (timeouts, refused connections, 429, 5xx,
  its credentials or model refused — never a refusal of the request itself) in a window of
  GATEWAY_COOLDOWN_WINDOW_SECONDS that starts at its first failure;
- the failure that brings the count to GATEWAY_COOLDOWN_FAILURES creates `cooldown:on:<route id>`,
  which expires with the cooldown (GATEWAY_COOLDOWN_SECONDS), and starts the count afresh.
Both steps are one script, so a counter never outlives its window. Whether a route is cooling,
and for how long, is the key's own time to live: no clock is compared across machines.

Cooling routes go to the back of their name's list (gateway/catalog/fallbacks.py): skipped while
a route that is not cooling remains, still tried when every route of the name is cooling, so a
burst of failures never turns into a refusal without an attempt. A success costs nothing here: the
hot path reads the state once per request, and only for names with more than one route (with one
route the order cannot change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from gateway.accounting import metrics
from gateway.accounting.counters import redis, run_script
from gateway.catalog.routes import RouteTarget, route_table

log = logging.getLogger(__name__)

# KEYS: the failure counter, the cooldown flag. ARGV: window seconds, failures that cool, cooldown seconds.
_RECORD_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if count >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return count
end
return 0
"""


def _on_key(route_id: int) -> str:
    return cache.make_key(f"cooldown:on:{route_id}")


def _fails_key(route_id: int) -> str:
    return cache.make_key(f"cooldown:fails:{route_id}")


def enabled() -> bool:
    return settings.GATEWAY_COOLDOWN_FAILURES > 0


@dataclass(frozen=True)
class RouteState:
    failures: int  # in the current window
    cooling_seconds: float  # left of its cooldown; 0 when not cooling

    @property
    def cooling(self) -> bool:
        return self.cooling_seconds > 0


def states(route_ids: Iterable[int]) -> dict[int, RouteState]:
    """Every given route's failures and cooldown (one round trip); raises when Redis is away."""
    ids = list(route_ids)
    if not ids:
        return {}
    with redis().pipeline(transaction=False) as pipe:
        for route_id in ids:
            pipe.get(_fails_key(route_id))
            pipe.pttl(_on_key(route_id))
        values = pipe.execute()
    return {
        route_id: RouteState(int(values[2 * index] or 0), max(0, values[2 * index + 1]) / 1000)
        for index, route_id in enumerate(ids)
    }


def cooling(route_ids: Iterable[int]) -> set[int]:
    """The routes cooling down now (one EXISTS-like MGET). Never raises: with Redis away every
    route counts as warm, and the request goes on."""
    ids = list(route_ids)
    if not ids or not enabled():
        return set()
    try:
        values = redis().mget([_on_key(route_id) for route_id in ids])
    except Exception as exc:
        log.warning("cooldown state unavailable: %s", type(exc).__name__)
        return set()
    return {route_id for route_id, value in zip(ids, values, strict=True) if value is not None}


def warm_first(targets: tuple[RouteTarget, ...]) -> tuple[RouteTarget, ...]:
    """The targets in priority order, those cooling down moved behind the others."""
    if len(targets) < 2:
        return targets
    cold = cooling(target.route_id for target in targets)
    if not cold:
        return targets
    return tuple(sorted(targets, key=lambda target: target.route_id in cold))  # stable: priority kept


def record_failure(target: RouteTarget, kind: str) -> bool:
    """Count one failure of `target`; True when it started the route's cooldown.

    Never raises: the request's own error is what the client must get.
    """
    try:
        batch = metrics.Batch()
        batch.count(metrics.UPSTREAM_FAILURES, target.provider.name, target.upstream_model, kind)
        batch.send()
        if not enabled():
            return False
        count = run_script(
            _RECORD_FAILURE,
            [_fails_key(target.route_id), _on_key(target.route_id)],
            [
                settings.GATEWAY_COOLDOWN_WINDOW_SECONDS,
                settings.GATEWAY_COOLDOWN_FAILURES,
                settings.GATEWAY_COOLDOWN_SECONDS,
            ],
        )
    except Exception as exc:
        log.warning("could not record a failure of route %s: %s", target.route_id, type(exc).__name__)
        return False
    if count:
        log.warning(
            "route %s (%s → %s on %s) cooling down for %s s after %s failures",
            target.route_id,
            target.public_name,
            target.upstream_model,
            target.provider.name,
            settings.GATEWAY_COOLDOWN_SECONDS,
            count,
        )
    return bool(count)


def clear(route_ids: Iterable[int]) -> None:
    """End routes' cooldowns and forget their failures (the admin's "end cooldown" action)."""
    keys = [key for route_id in route_ids for key in (_on_key(route_id), _fails_key(route_id))]
    if keys:
        redis().delete(*keys)


def metric_lines() -> list[str]:
    """gateway_route_cooldown_seconds for every route the gateway serves, from the route snapshot
    (Redis) and one Redis round trip; a scrape still answers, the gauge empty, when either is away."""
    try:
        targets = {target.route_id: target for found in route_table().by_name.values() for target in found}
        known = states(sorted(targets))
    except Exception as exc:
        log.warning("cooldown state unavailable for /metrics: %s", type(exc).__name__)
        return metrics.gauge_lines(metrics.ROUTE_COOLDOWN, [])
    samples = []
    for route_id, target in sorted(targets.items()):
        labels = (str(route_id), target.public_name, target.provider.name, target.upstream_model)
        samples.append((labels, round(known[route_id].cooling_seconds, 3)))
    return metrics.gauge_lines(metrics.ROUTE_COOLDOWN, samples)


def seconds_left(state: RouteState) -> int:
    """Whole seconds of a cooldown, at least 1 while it lasts (for people)."""
    return max(1, round(state.cooling_seconds)) if state.cooling else 0
