"""Cooldown: a route failing repeatedly is skipped for a while, by every worker (a circuit breaker).

State lives in Redis under the cache prefix, so all gunicorn workers and Celery workers share it:
- `cooldown:fails:<route id>` counts the route's upstream failures (timeouts, refused connections,
  429, 5xx — never a refusal of the request itself) in a window of GATEWAY_COOLDOWN_WINDOW_SECONDS
  that starts at its first failure;
- the failure that brings the count to GATEWAY_COOLDOWN_FAILURES sets `cooldown:until:<route id>`
  (a unix time, expiring with the cooldown) and starts the count afresh.

Cooling routes go to the back of their name's list (gateway/catalog/fallbacks.py): skipped while
a route that is not cooling remains, still tried when every route of the name is cooling, so a
burst of failures never turns into a refusal without an attempt. A success costs nothing here: the
hot path reads the state once per request, and only for names with more than one route (with one
route the order cannot change).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from gateway.accounting import metrics
from gateway.accounting.counters import redis
from gateway.catalog.routes import RouteTarget, route_table

log = logging.getLogger(__name__)


def _until_key(route_id: int) -> str:
    return cache.make_key(f"cooldown:until:{route_id}")


def _fails_key(route_id: int) -> str:
    return cache.make_key(f"cooldown:fails:{route_id}")


def enabled() -> bool:
    return settings.GATEWAY_COOLDOWN_FAILURES > 0


def cooling_until(route_ids: Iterable[int]) -> dict[int, float]:
    """Route id → the unix time its cooldown ends, for those cooling now (one MGET).

    Never raises: with Redis away every route counts as warm, and the request goes on.
    """
    ids = list(route_ids)
    if not ids or not enabled():
        return {}
    try:
        values = redis().mget([_until_key(route_id) for route_id in ids])
    except Exception as exc:
        log.warning("cooldown state unavailable: %s", type(exc).__name__)
        return {}
    now = time.time()
    cooling = {}
    for route_id, raw in zip(ids, values, strict=True):
        if raw is not None and float(raw) > now:
            cooling[route_id] = float(raw)
    return cooling


def warm_first(targets: tuple[RouteTarget, ...]) -> tuple[RouteTarget, ...]:
    """The targets in priority order, those cooling down moved behind the others."""
    if len(targets) < 2:
        return targets
    cooling = cooling_until(target.route_id for target in targets)
    if not cooling:
        return targets
    return tuple(sorted(targets, key=lambda target: target.route_id in cooling))  # stable: priority kept


def record_failure(target: RouteTarget, kind: str) -> bool:
    """Count one upstream failure of `target`; True when it started the route's cooldown.

    Never raises: the request's own error is what the client must get.
    """
    try:
        batch = metrics.Batch()
        batch.count(metrics.UPSTREAM_FAILURES, target.provider.name, target.upstream_model, kind)
        batch.send()
        if not enabled():
            return False
        client = redis()
        fails = _fails_key(target.route_id)
        count = client.incr(fails)
        if count == 1:
            client.expire(fails, settings.GATEWAY_COOLDOWN_WINDOW_SECONDS)
        if count < settings.GATEWAY_COOLDOWN_FAILURES:
            return False
        seconds = settings.GATEWAY_COOLDOWN_SECONDS
        with client.pipeline(transaction=True) as pipe:
            pipe.set(_until_key(target.route_id), repr(time.time() + seconds), ex=seconds)
            pipe.delete(fails)
            pipe.execute()
        log.warning(
            "route %s (%s → %s on %s) cooling down for %s s after %s failures",
            target.route_id,
            target.public_name,
            target.upstream_model,
            target.provider.name,
            seconds,
            count,
        )
        return True
    except Exception as exc:
        log.warning("could not record a failure of route %s: %s", target.route_id, type(exc).__name__)
        return False


@dataclass(frozen=True)
class RouteState:
    failures: int  # in the current window
    cooling_until: float | None  # unix time, None when not cooling


def states(route_ids: Iterable[int]) -> dict[int, RouteState]:
    """Every given route's failures and cooldown, for the admin and /metrics (one round trip)."""
    ids = list(route_ids)
    if not ids:
        return {}
    with redis().pipeline(transaction=False) as pipe:
        for route_id in ids:
            pipe.get(_fails_key(route_id))
            pipe.get(_until_key(route_id))
        values = pipe.execute()
    now = time.time()
    result = {}
    for index, route_id in enumerate(ids):
        fails, until = values[2 * index], values[2 * index + 1]
        ends = float(until) if until is not None and float(until) > now else None
        result[route_id] = RouteState(int(fails or 0), ends)
    return result


def clear(route_id: int) -> None:
    """End a route's cooldown and forget its failures (the admin's "end cooldown" action)."""
    redis().delete(_until_key(route_id), _fails_key(route_id))


def metric_lines() -> list[str]:
    """gateway_route_cooldown_seconds for every route the gateway serves, from the route snapshot
    (Redis) and one Redis round trip; a scrape still answers, the gauge empty, when either is away."""
    try:
        targets = {target.route_id: target for found in route_table().by_name.values() for target in found}
        known = states(sorted(targets))
    except Exception as exc:
        log.warning("cooldown state unavailable for /metrics: %s", type(exc).__name__)
        return metrics.gauge_lines(metrics.ROUTE_COOLDOWN, [])
    now = time.time()
    samples = []
    for route_id, target in sorted(targets.items()):
        until = known[route_id].cooling_until
        left = round(max(0.0, until - now), 3) if until else 0.0
        labels = (str(route_id), target.public_name, target.provider.name, target.upstream_model)
        samples.append((labels, left))
    return metrics.gauge_lines(metrics.ROUTE_COOLDOWN, samples)
