"""The shape every text-generation endpoint shares: validate, route, answer or stream, record usage.

Chat and legacy completions differ in their request type, task and service; everything around
them — usage bookkeeping, SSE response headers, the response cache — is the same and lives here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

from django.http import StreamingHttpResponse
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.api.responses import SettledResponse
from gateway.errors import GatewayError, from_drf
from gateway.ledger_middleware import entry_for
from gateway.limits import admit
from gateway.response_cache import cache_plan_for
from gateway.routing import RouteTarget, resolve_routes
from gateway.usage import UsageEntry, settle


class GenerationView(APIView):
    endpoint: ClassVar[str]
    task: ClassVar[str]

    def parse(self, data: Any) -> Any:
        raise NotImplementedError

    def complete(self, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        raise NotImplementedError

    def open_stream(
        self, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        raise NotImplementedError

    def post(self, request: Request) -> Response | StreamingHttpResponse:
        started = time.monotonic()
        principal = request.user
        entry = entry_for(request._request, self.endpoint, principal)
        try:
            try:
                data = request.data
            except APIException as exc:  # unreadable body: still one usage record for the key
                raise from_drf(exc) from exc
            body = self.parse(data)
            entry.public_model, entry.streamed = body.model, body.stream
            targets = resolve_routes(body.model, self.task, principal.allows(body.model))
            entry.admission = admit(request._request, principal, body, targets)
            if body.stream:
                response = StreamingHttpResponse(
                    self.open_stream(body, targets, entry, started), content_type="text/event-stream; charset=utf-8"
                )
                for name, value in entry.admission.headers.items():
                    response[name] = value
                response["Cache-Control"] = "no-cache"
                response["X-Accel-Buffering"] = "no"  # nginx must not buffer a stream
                return response
            cache_plan = cache_plan_for(body, targets, principal, request.headers)
            cached = cache_plan.lookup()
            if cached is not None:
                result = cached.replay(entry)
            else:
                result = self.complete(body, targets, entry)
                cache_plan.store(result, entry)
        except GatewayError as error:
            if entry.admission is not None:  # an answer after admission reports the limits too
                error.headers = {**entry.admission.headers, **error.headers}
            entry.status, entry.error_code = error.status, error.code or ""
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            settle(entry)
            raise
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        headers = {**entry.admission.headers, **cache_plan.headers(hit=cached is not None)}
        return SettledResponse(result, entry, headers=headers)
