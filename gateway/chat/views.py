"""POST /v1/chat/completions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drf_spectacular.utils import extend_schema_view

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.chat import openapi, service
from gateway.chat.request import ChatCompletionRequest, parse_chat_request
from gateway.http.generation_view import GenerationView
from gateway.models import Task


@extend_schema_view(post=openapi.CREATE)
class ChatCompletionsView(GenerationView):
    endpoint = "chat.completions"
    task = Task.CHAT

    def parse(self, data: Any) -> ChatCompletionRequest:
        return parse_chat_request(data)

    def complete(
        self, body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry
    ) -> dict[str, Any]:
        return service.complete(body, targets, entry)

    def open_stream(
        self, body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return service.open_stream(body, targets, entry, started)
