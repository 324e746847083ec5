"""The shapes the model endpoints share beyond the metered frame (gateway/http/metered_view.py).

- CachedView: a non-streaming answer, served from the response cache when the request is
  deterministic (or opted in), else computed and stored; the usage record follows the body.
- GenerationView: chat and legacy completions, which also stream (SSE headers, the settled stream);
  `event_stream_response` is that answer's frame, which the Responses API's stream shares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponseBase, StreamingHttpResponse
from rest_framework.request import Request

from gateway.accounting.entry import UsageEntry
from gateway.cache.responses import cache_plan_for
from gateway.catalog.routes import RouteTarget
from gateway.http.metered_view import MeteredView
from gateway.http.responses import SettledResponse


class CachedView(MeteredView):
    def complete(self, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        raise NotImplementedError

    def cached_request(self, body: Any) -> Any:
        """The request the cache keys on and complete() answers: the body itself, unless the family
        wraps another family's answer (responses keep chat's, so their ids and store stay fresh)."""
        return body

    def present(self, body: Any, result: dict[str, Any]) -> dict[str, Any]:
        """The client's answer from the one computed or replayed."""
        return result

    def answer(
        self, request: Request, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        cache_plan = cache_plan_for(self.cached_request(body), targets, request.user, request.headers)
        cached = cache_plan.lookup()
        if cached is not None:
            result = cached.replay(entry)
        else:
            result = self.complete(body, targets, entry)
            cache_plan.store(result, entry)
        result = self.present(body, result)
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        headers = {**entry.admission.headers, **cache_plan.headers(hit=cached is not None)}
        return SettledResponse(result, entry, headers=headers)


class GenerationView(CachedView):
    def open_stream(
        self, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        raise NotImplementedError

    def answer(
        self, request: Request, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        entry.streamed = body.stream
        if not body.stream:
            return super().answer(request, body, targets, entry, started)
        return event_stream_response(self.open_stream(body, targets, entry, started), entry)


def event_stream_response(frames: Iterator[bytes], entry: UsageEntry) -> StreamingHttpResponse:
    """An SSE answer with the request's limit headers, which no proxy may buffer or cache."""
    response = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    for name, value in entry.admission.headers.items():
        response[name] = value
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must not buffer a stream
    return response
