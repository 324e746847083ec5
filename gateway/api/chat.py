"""POST /v1/chat/completions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway import chat_completion
from gateway.api.chat_request import ChatCompletionRequest, parse_chat_request
from gateway.api.generation import GenerationView
from gateway.models import Task
from gateway.routing import RouteTarget
from gateway.usage import UsageEntry


class ChatCompletionsView(GenerationView):
    endpoint = "chat.completions"
    task = Task.CHAT

    def parse(self, data: Any) -> ChatCompletionRequest:
        return parse_chat_request(data)

    def complete(
        self, body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry
    ) -> dict[str, Any]:
        return chat_completion.complete(body, targets, entry)

    def open_stream(
        self, body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return chat_completion.open_stream(body, targets, entry, started)
