"""Routes tried in priority order: the next one only when this upstream, not the request, failed.

Every family that calls an upstream goes through `with_fallbacks`, so the choice of what is worth
a retry elsewhere, and the bookkeeping of which target answered, live in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.db import release_connections
from gateway.errors import from_provider_error
from gateway.providers.base import ProviderError

T = TypeVar("T")

# Worth trying the next route for: the request itself was fine, this upstream was not.
_FALLBACK_KINDS = {"unavailable", "rate_limited", "upstream"}


def _note_target(entry: UsageEntry, target: RouteTarget) -> None:
    entry.upstream_model = target.upstream_model
    entry.provider = target.provider.name


def with_fallbacks(targets: tuple[RouteTarget, ...], entry: UsageEntry, call: Callable[[RouteTarget], T]) -> T:
    """Run call(target) on each target until one answers; the last error is raised.

    entry.upstream_latency_ms is the time in the last call(target): for a stream, to the upstream's
    response headers (the adapter returns then); for n > 1 or several inputs, all of its calls.
    """
    release_connections()
    for position, target in enumerate(targets):
        _note_target(entry, target)
        called = time.monotonic()
        try:
            return call(target)
        except ProviderError as exc:
            if exc.kind not in _FALLBACK_KINDS or position == len(targets) - 1:
                raise from_provider_error(exc) from exc
        finally:
            entry.upstream_latency_ms = int((time.monotonic() - called) * 1000)
    raise AssertionError("targets is never empty")
