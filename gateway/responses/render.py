"""OpenAI's response object, built from the chat completion that answered it.

https://platform.openai.com/docs/api-reference/responses/object: output items in order — a
reasoning item when the model reasoned, the assistant message, then one function_call item per
tool call. A completion cut by the token limit is `incomplete` with reason max_output_tokens.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.providers.base import ToolCall, Usage
from gateway.responses.input_items import new_item_id
from gateway.responses.request import ResponsesRequest


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": item_id, "summary": [{"type": "summary_text", "text": text}] if text else []}


# Where a completion carries its hosted tools' output items and annotations (service.complete).
HOSTED = "gateway_hosted"


def annotated(text: str, annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citations placed at the end of the text, as OpenAI places a file's citation after what it
    supports."""
    return [{**annotation, "index": len(text)} for annotation in annotations]


def message_item(
    item_id: str, text: str | None, status: str, annotations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The assistant message; `text` None while it streams (no content part yet)."""
    content = (
        []
        if text is None
        else [{"type": "output_text", "text": text, "annotations": annotated(text, annotations or [])}]
    )
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, call: ToolCall, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": arguments,
        "status": status,
    }


def _output(message: dict[str, Any], status: str, hosted: dict[str, Any]) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = list(hosted.get("items", ()))
    reasoning = message.get("reasoning_content")
    if reasoning:
        output.append(reasoning_item(new_item_id("rs"), reasoning))
    content = message.get("content")
    if content or not message.get("tool_calls"):
        output.append(message_item(new_item_id("msg"), content or "", status, hosted.get("annotations")))
    for raw in message.get("tool_calls") or ():
        call = ToolCall(id=raw["id"], name=raw["function"]["name"], arguments=raw["function"]["arguments"])
        output.append(function_call_item(new_item_id("fc"), call, call.arguments, "completed"))
    return output


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    body: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response in any state: in_progress (a stream's start), completed, incomplete or failed."""
    incomplete = status == "incomplete"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": body.model,
        "output": output,
        "parallel_tool_calls": body.parallel_tool_calls,
        "previous_response_id": body.previous_response_id,
        "reasoning": body.reasoning or {"effort": None, "summary": None},
        "store": body.store,
        "temperature": body.chat.temperature,
        "text": body.text,
        "tool_choice": body.tool_choice,
        "tools": list(body.tools),
        "top_p": body.chat.top_p,
        "truncation": body.truncation,
        "usage": usage_body(usage) if usage is not None else None,
        "user": body.user,
        "metadata": body.metadata or {},
    }


def response_body(body: ResponsesRequest, completion: dict[str, Any], *, created_at: int) -> dict[str, Any]:
    choice = completion["choices"][0]
    status = "incomplete" if choice["finish_reason"] == "length" else "completed"
    usage = completion.get("usage") or {}
    return response_object(
        body,
        response_id=new_item_id("resp"),
        created_at=created_at,
        status=status,
        output=_output(choice["message"], status, completion.get(HOSTED) or {}),
        usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
    )


def input_items_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
