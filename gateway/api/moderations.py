"""POST /v1/moderations."""

from __future__ import annotations

import time

from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.api.responses import SettledResponse
from gateway.errors import GatewayError, from_drf
from gateway.ledger_middleware import entry_for
from gateway.limits import admit
from gateway.models import Task
from gateway.moderation import moderate, parse_moderation_request
from gateway.routing import resolve_routes
from gateway.usage import settle


class ModerationsView(APIView):
    def post(self, request: Request) -> Response:
        started = time.monotonic()
        principal = request.user
        entry = entry_for(request._request, "moderations", principal)
        try:
            try:
                data = request.data
            except APIException as exc:  # unreadable body: still one usage record for the key
                raise from_drf(exc) from exc
            body = parse_moderation_request(data)
            entry.public_model = body.model
            targets = resolve_routes(body.model, Task.MODERATION, principal.allows(body.model))
            entry.admission = admit(request._request, principal, body, targets)
            result = moderate(body, targets, entry)
        except GatewayError as error:
            if entry.admission is not None:  # an answer after admission reports the limits too
                error.headers = {**entry.admission.headers, **error.headers}
            entry.status, entry.error_code = error.status, error.code or ""
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            settle(entry)
            raise
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(result, entry, headers=entry.admission.headers)
