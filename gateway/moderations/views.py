"""POST /v1/moderations."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.http.metered_view import MeteredView
from gateway.http.responses import SettledResponse
from gateway.models import Task
from gateway.moderations import openapi
from gateway.moderations.render import moderation_body
from gateway.moderations.request import ModerationRequest, parse_moderation_request
from gateway.moderations.service import moderate


@extend_schema_view(post=openapi.CREATE)
class ModerationsView(MeteredView):
    endpoint = "moderations"
    task = Task.MODERATION

    def parse(self, data: Any) -> ModerationRequest:
        return parse_moderation_request(data)

    def answer(
        self,
        request: Request,
        body: ModerationRequest,
        targets: tuple[RouteTarget, ...],
        entry: UsageEntry,
        started: float,
    ) -> HttpResponseBase:
        result = moderation_body(body.model, moderate(body, targets, entry))
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(result, entry, headers=entry.admission.headers)
