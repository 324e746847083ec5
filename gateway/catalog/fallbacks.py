"""Routes tried in order, then retried after a backoff: another attempt only when a route, not the
request, failed (README "Providers, routing, fallbacks and cooldowns").

Every family that calls an upstream goes through `with_fallbacks`, so what is worth another
attempt, how long to wait, the cooldown bookkeeping and which route answered live in one place:
- first, every route of the name once, in priority order, cooling routes last
  (gateway/catalog/cooldown.py), without waiting between them. A failure of the route moves to the
  next one: a timeout, a refused connection, 429 (Workers AI 3040/3036 too) or 5xx, and also the
  route's own configuration (its credentials refused, its model unknown or not allowed). A route
  whose context window cannot hold the prompt is passed over the same way (no attempt counted);
- then up to GATEWAY_UPSTREAM_RETRIES more attempts, each on the route that may be asked again
  soonest (its Retry-After counted from when it came), after a jittered exponential backoff and
  never before that Retry-After. Only timeouts, refused connections, 429 and 5xx are retried, and
  never on a route that has just cooled down. No retry waits longer than
  GATEWAY_UPSTREAM_MAX_WAIT_SECONDS (a thread held asleep serves no one) nor ends past
  GATEWAY_UPSTREAM_BUDGET_SECONDS after the first attempt began: the last failure is then the
  answer, with its Retry-After;
- a refusal of the request itself (the upstream's 4xx about the input) is the answer at once.
A stream is retried only until the upstream's headers are in (the adapters return then): once a
byte went to the client a failure ends the stream with an error event (gateway/streams/settled.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from gateway.accounting.entry import UsageEntry
from gateway.catalog import cooldown
from gateway.catalog.routes import RouteTarget
from gateway.db import release_connections
from gateway.errors import GatewayError, from_provider_error
from gateway.providers.base import ProviderError

T = TypeVar("T")

# Worth another attempt, on this route later or on the next: the upstream, not the request, failed.
RETRYABLE_KINDS = frozenset({"unavailable", "rate_limited", "upstream", "timeout"})
# This route cannot serve (its credentials, its model): the next route may; asking it again will not help.
ROUTE_KINDS = frozenset({"auth", "permission", "model_not_found"})
FAILOVER_KINDS = RETRYABLE_KINDS | ROUTE_KINDS
CONTEXT_EXCEEDED = "context_length_exceeded"  # gateway/accounting/tokens.py: the prompt does not fit this route
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class _Failure:
    target: RouteTarget
    error: ProviderError | GatewayError
    ready_at: float  # monotonic time from which the upstream said it may be asked again
    retryable: bool


def _note_target(entry: UsageEntry, target: RouteTarget) -> None:
    entry.upstream_model = target.upstream_model
    entry.provider = target.provider.name
    entry.route_id = target.route_id


def backoff_seconds(retry: int) -> float:
    """The wait before the `retry`-th retry of a request (1-based): "equal jitter" under an
    exponential ceiling (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
    so retries from many workers spread out yet never come at once."""
    base = max(0.0, settings.GATEWAY_UPSTREAM_BACKOFF_SECONDS)
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** (retry - 1))
    return random.uniform(ceiling / 2, ceiling)


def _raise(failure: _Failure) -> None:
    error = failure.error
    if isinstance(error, ProviderError):
        raise from_provider_error(error) from error
    raise error


def with_fallbacks(
    targets: tuple[RouteTarget, ...],
    entry: UsageEntry,
    call: Callable[[RouteTarget], T],
    *,
    retries: int | None = None,
) -> T:
    """Run call(target) until one answers, as the module says; the deciding error is raised.

    `retries`: attempts beyond one per route (default GATEWAY_UPSTREAM_RETRIES); 0 for work that
    retries on its own schedule (an image job's Celery task). entry.attempts counts the upstream
    attempts; entry.route_id (provider, upstream_model) names the route of the last one, whose error
    is the one raised; entry.upstream_latency_ms is the time in that call(target): for a stream, to
    the upstream's response headers; for n > 1 or several inputs, all of its calls.
    """
    release_connections()
    budget_ends = time.monotonic() + settings.GATEWAY_UPSTREAM_BUDGET_SECONDS
    failures: dict[int, _Failure] = {}
    deciding: _Failure | None = None  # the error to answer with if nothing does: the last upstream one

    def attempt(target: RouteTarget) -> tuple[bool, T | None]:
        nonlocal deciding
        _note_target(entry, target)
        called = time.monotonic()
        try:
            answer = call(target)
        except ProviderError as exc:
            entry.attempts += 1
            if exc.kind not in FAILOVER_KINDS:
                raise from_provider_error(exc) from exc
            cooled = cooldown.record_failure(target, exc.kind)
            ready = time.monotonic() + (exc.retry_after or 0)
            failure = _Failure(target, exc, ready, retryable=exc.kind in RETRYABLE_KINDS and not cooled)
            deciding = failures[target.route_id] = failure
            return False, None
        except GatewayError as exc:
            if exc.code != CONTEXT_EXCEEDED:
                raise
            # The prompt does not fit this route (its estimate beyond what routing saw: a forced
            # tool's instruction, RAG's context): a route with a larger window may still take it.
            failure = _Failure(target, exc, 0.0, retryable=False)
            if deciding is None or not isinstance(deciding.error, ProviderError):
                deciding = failure
            return False, None
        finally:
            entry.upstream_latency_ms = int((time.monotonic() - called) * 1000)
        entry.attempts += 1
        return True, answer

    for target in cooldown.warm_first(targets):
        answered, answer = attempt(target)
        if answered:
            return answer  # type: ignore[return-value]
    for retry in range(1, (settings.GATEWAY_UPSTREAM_RETRIES if retries is None else retries) + 1):
        waiting = [failure for failure in failures.values() if failure.retryable]
        if not waiting:
            break
        soonest = min(waiting, key=lambda failure: failure.ready_at)
        now = time.monotonic()
        wait = max(backoff_seconds(retry), soonest.ready_at - now)
        if wait > settings.GATEWAY_UPSTREAM_MAX_WAIT_SECONDS or now + wait > budget_ends:
            break
        time.sleep(wait)  # nothing held: connections were released above
        answered, answer = attempt(soonest.target)
        if answered:
            return answer  # type: ignore[return-value]
    assert deciding is not None  # targets is never empty, and every failed attempt() sets it
    _note_target(entry, deciding.target)
    _raise(deciding)
    raise AssertionError("unreachable")
