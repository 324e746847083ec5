"""OpenAI text_completion shapes, whole and streamed (shared/reference/openai-contract.md)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.api.chat_render import usage_body
from gateway.providers.base import Usage


def _completion_id() -> str:
    return f"cmpl-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class TextChoice:
    text: str
    finish_reason: str


def text_completion_body(model: str, choices: list[TextChoice], usage: Usage) -> dict[str, Any]:
    return {
        "id": _completion_id(),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"text": choice.text, "index": index, "logprobs": None, "finish_reason": choice.finish_reason}
            for index, choice in enumerate(choices)
        ],
        "usage": usage_body(usage),
    }


@dataclass
class TextChunkWriter:
    """Builds the chunks of one stream: same id, created and model on every one."""

    model: str
    include_usage: bool
    id: str = field(default_factory=_completion_id)
    created: int = field(default_factory=lambda: int(time.time()))

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None  # every chunk but the last one carries usage: null
        return chunk

    def text(self, index: int, text: str, finish_reason: str | None = None) -> dict[str, Any]:
        return self._chunk([{"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}])

    def usage(self, usage: Usage) -> dict[str, Any]:
        chunk = self._chunk([])
        chunk["usage"] = usage_body(usage)
        return chunk
