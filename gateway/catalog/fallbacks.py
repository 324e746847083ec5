"""Routes tried in order, again after a backoff: the next attempt only when the upstream, not the
request, failed (README "Fallbacks, retries and cooldowns").

Every family that calls an upstream goes through `with_fallbacks`, so what is worth another
attempt, how long to wait, the cooldown bookkeeping and which route answered live in one place:
- a timeout, a refused connection, 429 (Workers AI 3040/3036 included) or 5xx moves to the name's
  next route at once; routes cooling down (gateway/catalog/cooldown.py) come last;
- once every route was tried, up to GATEWAY_UPSTREAM_RETRIES more attempts go round them again,
  each after a jittered exponential backoff that is never shorter than the upstream's Retry-After;
- no attempt starts, and no backoff waits, past GATEWAY_UPSTREAM_BUDGET_SECONDS after the first;
  the last failure is then the answer (with its Retry-After);
- any other failure (the upstream refusing the request: 4xx) is the answer at once.
A stream is retried only until the upstream's headers are in (the adapters return then): once a
byte went to the client a failure ends the stream with an error event (gateway/streams/settled.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from gateway.accounting.entry import UsageEntry
from gateway.catalog import cooldown
from gateway.catalog.routes import RouteTarget
from gateway.db import release_connections
from gateway.errors import from_provider_error
from gateway.providers.base import ProviderError

T = TypeVar("T")

# Worth another attempt: the request itself was fine, this upstream was not (at that moment).
RETRYABLE_KINDS = frozenset({"unavailable", "rate_limited", "upstream", "timeout"})
MAX_BACKOFF_SECONDS = 30.0


def _note_target(entry: UsageEntry, target: RouteTarget) -> None:
    entry.upstream_model = target.upstream_model
    entry.provider = target.provider.name
    entry.route_id = target.route_id


def backoff_seconds(retry: int, retry_after: int | None) -> float:
    """The wait before the `retry`-th retry (1-based): "equal jitter" under an exponential ceiling
    (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), so retries from many
    workers spread out yet never come at once; at least what the upstream asked for in Retry-After."""
    ceiling = min(MAX_BACKOFF_SECONDS, settings.GATEWAY_UPSTREAM_BACKOFF_SECONDS * 2 ** (retry - 1))
    return max(random.uniform(ceiling / 2, ceiling), float(retry_after or 0))


def with_fallbacks(
    targets: tuple[RouteTarget, ...],
    entry: UsageEntry,
    call: Callable[[RouteTarget], T],
    *,
    retries: int | None = None,
) -> T:
    """Run call(target) until one answers, as the module says; the deciding error is raised.

    `retries`: attempts beyond one per route (default GATEWAY_UPSTREAM_RETRIES); 0 for work that
    retries on its own schedule (an image job's Celery task).

    entry.upstream_latency_ms is the time in the last call(target): for a stream, to the upstream's
    response headers (the adapter returns then); for n > 1 or several inputs, all of its calls.
    entry.attempts counts every call; entry.route_id names the route of the last one.
    """
    release_connections()
    ordered = cooldown.warm_first(targets)
    budget_ends = time.monotonic() + settings.GATEWAY_UPSTREAM_BUDGET_SECONDS
    attempts_left = len(ordered) + (settings.GATEWAY_UPSTREAM_RETRIES if retries is None else retries)
    position = 0
    last_error: dict[int, ProviderError] = {}
    while True:
        target = ordered[position % len(ordered)]
        retry = position // len(ordered)  # 0 on the first pass over the routes
        if retry:
            previous = last_error[target.route_id]
            wait = backoff_seconds(retry, previous.retry_after)
            if time.monotonic() + wait > budget_ends:
                raise from_provider_error(previous) from previous
            time.sleep(wait)  # nothing held: connections were released above
        _note_target(entry, target)
        entry.attempts += 1
        attempts_left -= 1
        called = time.monotonic()
        try:
            return call(target)
        except ProviderError as exc:
            if exc.kind not in RETRYABLE_KINDS:
                raise from_provider_error(exc) from exc
            cooldown.record_failure(target, exc.kind)
            last_error[target.route_id] = exc
            if attempts_left <= 0 or time.monotonic() >= budget_ends:
                raise from_provider_error(exc) from exc
        finally:
            entry.upstream_latency_ms = int((time.monotonic() - called) * 1000)
        position += 1
