"""OpenAI chat.completion and chat.completion.chunk shapes.

https://platform.openai.com/docs/api-reference/chat/object and /chat-streaming
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.providers.base import ToolCall, Usage
from gateway.streams.chunks import StreamChunks, new_id, usage_body


@dataclass(frozen=True)
class Choice:
    content: str
    finish_reason: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def tool_call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _message(choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        # OpenAI sends null content beside tool calls; LangChain rebuilds history from it.
        "content": None if choice.tool_calls and not choice.content else choice.content,
        "refusal": None,
    }
    if choice.tool_calls:
        message["tool_calls"] = [tool_call_body(call) for call in choice.tool_calls]
    if choice.reasoning:
        message["reasoning_content"] = choice.reasoning
    return message


def completion_body(model: str, choices: list[Choice], usage: Usage) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "message": _message(choice),
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
            for index, choice in enumerate(choices)
        ],
        "usage": usage_body(usage),
    }


@dataclass
class ChunkWriter(StreamChunks):
    """The chunks of one chat stream."""

    object_type = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def tool_call_deltas(self, index: int, call: ToolCall) -> list[dict[str, Any]]:
        """A call as the SDKs accumulate it: id, type and name once, then the arguments.

        The Python SDK concatenates repeated string fields, the Node SDK's helper needs `type`
        in the first delta, and LangChain drops deltas without an integer `index`
        (https://platform.openai.com/docs/api-reference/chat-streaming/streaming).
        """
        opening = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        deltas = [self.delta({"tool_calls": [opening]})]
        step = max(1, -(-len(call.arguments) // 3))  # a few fragments, as the upstream would send
        for start in range(0, len(call.arguments), step):
            fragment = call.arguments[start : start + step]
            deltas.append(self.delta({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        return deltas
