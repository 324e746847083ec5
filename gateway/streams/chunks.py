"""What every OpenAI stream chunk shares, whatever the endpoint
(https://platform.openai.com/docs/api-reference/chat-streaming).

The same id, created and model on every chunk; `usage: null` on each chunk but the last when the
client asked for usage, and a final chunk with `choices: []` carrying it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gateway.providers.base import Usage


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


@dataclass
class StreamChunks:
    object_type: ClassVar[str]
    id_prefix: ClassVar[str]

    model: str
    include_usage: bool
    id: str = field(init=False)
    created: int = field(init=False, default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.id = new_id(self.id_prefix)

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": self.object_type,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def usage(self, usage: Usage) -> dict[str, Any]:
        chunk = self._chunk([])
        chunk["usage"] = usage_body(usage)
        return chunk
