"""POST /v1/completions (legacy text completions)."""

from __future__ import annotations

import time

from django.http import StreamingHttpResponse
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.api.completion_request import parse_completion_request
from gateway.api.responses import SettledResponse
from gateway.errors import GatewayError, from_drf
from gateway.models import Task
from gateway.routing import resolve_routes
from gateway.text_completion import complete, open_stream
from gateway.usage import UsageEntry, settle


class CompletionsView(APIView):
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        started = time.monotonic()
        principal = request.user
        entry = UsageEntry(request_id=request._request.request_id, endpoint="completions", principal=principal)
        try:
            try:
                data = request.data
            except APIException as exc:  # unreadable body: still one usage record for the key
                raise from_drf(exc) from exc
            body = parse_completion_request(data)
            entry.public_model, entry.streamed = body.model, body.stream
            targets = resolve_routes(body.model, Task.COMPLETION, principal.allows(body.model))
            if body.stream:
                response = StreamingHttpResponse(
                    open_stream(body, targets, entry, started), content_type="text/event-stream; charset=utf-8"
                )
                response["Cache-Control"] = "no-cache"
                response["X-Accel-Buffering"] = "no"  # nginx must not buffer a stream
                return response
            result = complete(body, targets, entry)
        except GatewayError as error:
            entry.status, entry.error_code = error.status, error.code or ""
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            settle(entry)
            raise
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(result, entry)
