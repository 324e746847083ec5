"""A non-streamed answer's `result` as a ChatResult, whichever of the three shapes it has.

The classic `{response, tool_calls, usage}`, an OpenAI chat.completion inside `result`, and a
Responses object are told apart by their keys, not by the model name. Usage and tool calls, in
whichever shape, are read by gateway/providers/openai_shapes.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from gateway.providers.base import ChatResult, ProviderError, ToolCall
from gateway.providers.openai_shapes import tool_calls_of, usage_of
from gateway.providers.reasoning import split_reasoning


def parse_result(result: Any, starts_in_reasoning: bool) -> ChatResult:
    """Parse `result` of whichever of the three answer shapes it is."""
    if not isinstance(result, dict):
        raise ProviderError("upstream", "Upstream error: the answer has no result object.")
    if result.get("object") == "response" or isinstance(result.get("output"), list):
        return _parse_responses(result)
    if isinstance(result.get("choices"), list):
        return _parse_chat_completion(result)
    response = result.get("response")
    if isinstance(response, str):
        reasoning, content = split_reasoning(response, starts_in_reasoning)
    else:
        # JSON mode hands back the parsed object; OpenAI clients expect the JSON text.
        reasoning, content = "", "" if response is None else json.dumps(response)
    return ChatResult(
        content=content,
        reasoning=reasoning,
        tool_calls=tool_calls_of(result.get("tool_calls")),
        usage=usage_of(result.get("usage")),
    )


def _parse_chat_completion(result: dict[str, Any]) -> ChatResult:
    # Read as the OpenAI-compatible adapter reads it: a choice or message that is not an object
    # (an upstream's malformed answer) is an empty one, never a crash of the gateway.
    first = result["choices"][0] if result["choices"] else {}
    choice = first if isinstance(first, dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    # This shape carries reasoning in its own field, so "starts in reasoning" does not apply to
    # its content; only a literal leading <think> block is split off.
    tagged, content = split_reasoning(message.get("content") or "", False)
    reasoning = "\n".join(t for t in (message.get("reasoning_content") or "", tagged) if t)
    finish = choice.get("finish_reason")
    return ChatResult(
        content=content,
        reasoning=reasoning,
        tool_calls=tool_calls_of(message.get("tool_calls")),
        usage=usage_of(result.get("usage")),
        finish_reason=finish if isinstance(finish, str) else None,
    )


def _parse_responses(result: dict[str, Any]) -> ChatResult:
    reasoning: list[str] = []
    content: list[str] = []
    calls: list[ToolCall] = []
    for item in result.get("output") or []:
        if not isinstance(item, dict):
            continue
        parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
        if item.get("type") == "reasoning":
            reasoning.extend(str(p.get("text") or "") for p in parts)
        elif item.get("type") == "message":
            texts = (p.get("text") for p in parts if p.get("type") == "output_text")
            content.extend(str(t or "") for t in texts)
        elif item.get("type") == "function_call":
            # call_id, not the item's own id, is what a later function_call_output names.
            calls.extend(tool_calls_of([{**item, "id": item.get("call_id")}]))
    finish = None
    incomplete = result.get("incomplete_details") or {}
    if result.get("status") == "incomplete" and incomplete.get("reason") == "max_output_tokens":
        finish = "length"
    elif calls:
        finish = "tool_calls"
    return ChatResult(
        content="".join(content),
        reasoning="".join(reasoning),
        tool_calls=tuple(calls),
        usage=usage_of(result.get("usage")),
        finish_reason=finish,
    )


def base64_field(result: Any, name: str, what: str) -> bytes:
    """The bytes of a base64 field of an answer (melotts' audio, FLUX's image)."""
    value = result.get(name) if isinstance(result, dict) else None
    if not isinstance(value, str) or not value:
        raise ProviderError("upstream", f"Upstream error: the answer holds no {what}.")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ProviderError("upstream", f"Upstream error: the {what} is not base64.") from exc
