"""POST /v1/completions (legacy text completions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drf_spectacular.utils import extend_schema_view

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.completions import openapi, service
from gateway.completions.request import CompletionRequest, parse_completion_request
from gateway.http.generation_view import GenerationView
from gateway.models import Task


@extend_schema_view(post=openapi.CREATE)
class CompletionsView(GenerationView):
    endpoint = "completions"
    task = Task.COMPLETION

    def parse(self, data: Any) -> CompletionRequest:
        return parse_completion_request(data)

    def complete(self, body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        return service.complete(body, targets, entry)

    def open_stream(
        self, body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return service.open_stream(body, targets, entry, started)
