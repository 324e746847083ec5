"""OpenAI text_completion shapes, whole and streamed.

https://platform.openai.com/docs/api-reference/completions/object
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.providers.base import Usage
from gateway.streams.chunks import StreamChunks, new_id, usage_body


@dataclass(frozen=True)
class TextChoice:
    text: str
    finish_reason: str


def text_completion_body(model: str, choices: list[TextChoice], usage: Usage) -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
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
class TextChunkWriter(StreamChunks):
    """The chunks of one text_completion stream."""

    object_type = "text_completion"
    id_prefix = "cmpl"

    def text(self, index: int, text: str, finish_reason: str | None = None) -> dict[str, Any]:
        return self._chunk([{"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}])
