"""OpenAI-shaped usage and tool-call objects, as both adapters' upstreams send them.

OpenAI-compatible servers answer these shapes (https://platform.openai.com/docs/api-reference/chat/object,
/responses/object for `input_tokens` usage), and so do Workers AI's newer models; its older ones
send calls as `{name, arguments: {…}}`
(https://developers.cloudflare.com/workers-ai/features/function-calling/), read here too.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from gateway.providers.base import ToolCall, Usage


def tool_calls_of(raw: Any) -> tuple[ToolCall, ...]:
    """Legacy `{name, arguments:{…}}` or OpenAI `{id, type, function:{name, arguments}}` calls."""
    calls: list[ToolCall] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        function = item.get("function") if isinstance(item.get("function"), dict) else item
        name = function.get("name")
        if not isinstance(name, str) or not name:
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {})
        call_id = item.get("id")
        calls.append(
            ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else new_call_id(), name=name, arguments=arguments
            )
        )
    return tuple(calls)


def new_call_id() -> str:
    """An id for a call the upstream sent without one, in OpenAI's `call_…` form."""
    return "call_" + secrets.token_hex(12)


def usage_of(raw: Any) -> Usage | None:
    """Token counts from a chat (`prompt_tokens`) or Responses (`input_tokens`) usage object."""
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("prompt_tokens", raw.get("input_tokens")))
    completion = _count(raw.get("completion_tokens", raw.get("output_tokens")))
    if prompt is None and completion is None:
        return None
    return Usage(prompt_tokens=prompt or 0, completion_tokens=completion or 0)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
