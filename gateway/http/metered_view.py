"""The frame of every model endpoint: the usage entry, the body, the routes, the admission.

A subclass parses its body and answers; this class resolves the routes, admits the request
the request's demand — which its family computes — against the key's limits
(gateway/accounting/admission.py), and makes sure every refusal raised on the way — validation,
routing, limits, upstream — settles the request's usage record and carries the limit headers
once the request was admitted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.http import HttpResponseBase
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.views import APIView

from gateway import stamps
from gateway.access.auth import ApiKeyAuthentication, KeyPrincipal
from gateway.accounting.admission import Stale, admit
from gateway.accounting.entry import Demand, UsageEntry
from gateway.accounting.ledger import settle
from gateway.catalog.capabilities import capable
from gateway.catalog.routes import RouteTarget, resolve_routes
from gateway.errors import GatewayError
from gateway.http.envelope import from_drf
from gateway.http.ledger_middleware import entry_for

_EXCERPT_CHARS = 500


def prompt_excerpt(data: dict[str, Any]) -> str:
    """The start of what the client asked (messages, prompt or input), for opt-in request logs."""
    asked = next((data[name] for name in ("messages", "prompt", "input") if name in data), "")
    text = asked if isinstance(asked, str) else json.dumps(asked, ensure_ascii=False, separators=(",", ":"))
    return text[:_EXCERPT_CHARS]


class MeteredRequest(Protocol):
    """What every family's typed request offers the frame: the model asked for, and its demand."""

    model: str

    def demand(self, targets: Sequence[RouteTarget]) -> Demand: ...


_ADMISSIONS = 3  # a request re-admitted after an edit twice over is then served as it stands


class MeteredView(APIView):
    endpoint: ClassVar[str]
    task: ClassVar[str]
    # Admission opens this request's lease (gateway/http/ledger_middleware.py opens no other).
    leases_at_admission: ClassVar[bool] = True

    def parse(self, data: Any) -> MeteredRequest:
        raise NotImplementedError

    def answer(
        self, request: Request, body: Any, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        raise NotImplementedError

    def targets(self, body: MeteredRequest, principal: KeyPrincipal) -> tuple[RouteTarget, ...]:
        targets = resolve_routes(body.model, self.task, principal.allows(body.model))
        needs = getattr(body, "needs", None)  # families whose routes differ in capabilities
        if needs is not None:
            targets = capable(body.model, targets, needs())
        return targets

    def post(self, request: Request) -> HttpResponseBase:
        started = time.monotonic()
        principal = request.user
        entry = entry_for(request._request, self.endpoint, principal)
        try:
            try:
                data = request.data
            except APIException as exc:  # unreadable body: still one usage record for the key
                raise from_drf(exc) from exc
            body = self.parse(data)
            entry.public_model = body.model
            if settings.GATEWAY_LOG_PROMPTS:
                entry.prompt_excerpt = prompt_excerpt(data)
            for attempt in range(_ADMISSIONS):
                try:
                    targets = self.targets(body, principal)
                except GatewayError:
                    if not stamps.moved_since_read("routes"):
                        raise
                    targets = self.targets(body, principal)  # the routes changed just now
                try:
                    entry.admission = admit(
                        request._request, entry, demand=body.demand(targets), upstream_model=targets[0].upstream_model
                    )
                    break
                except Stale:
                    # The key, routes or prices changed since they were read: read them again
                    # (a revoked key is refused here), then admit again. The last time, the
                    # stamps are not compared: an edit a millisecond ago is as good as one after.
                    principal = ApiKeyAuthentication().authenticate(request)[0]  # type: ignore[index]
                    request.user = entry.principal = principal
                    if attempt == _ADMISSIONS - 2:
                        entry.stamps = None
            return self.answer(request, body, targets, entry, started)
        except GatewayError as error:
            if entry.admission is not None:  # an answer after admission reports the limits too
                error.headers = {**entry.admission.headers, **error.headers}
            entry.status, entry.error_code = error.status, error.code or ""
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            settle(entry)
            raise
