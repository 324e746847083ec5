"""POST /v1/completions (legacy text completions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway import text_completion
from gateway.api.completion_request import CompletionRequest, parse_completion_request
from gateway.api.generation import GenerationView
from gateway.models import Task
from gateway.routing import RouteTarget
from gateway.usage import UsageEntry


class CompletionsView(GenerationView):
    endpoint = "completions"
    task = Task.COMPLETION

    def parse(self, data: Any) -> CompletionRequest:
        return parse_completion_request(data)

    def complete(self, body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        return text_completion.complete(body, targets, entry)

    def open_stream(
        self, body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return text_completion.open_stream(body, targets, entry, started)
