"""OpenAI's response object, built from the chat completion that answered it.

https://platform.openai.com/docs/api-reference/responses/object: output items in order — a
reasoning item when the model reasoned, the assistant message, then one function_call item per
tool call. A completion cut by the token limit is `incomplete` with reason max_output_tokens.
"""

from __future__ import annotations

from typing import Any

from gateway.responses.input_items import new_item_id
from gateway.responses.request import ResponsesRequest


def _output(message: dict[str, Any], status: str) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if reasoning:
        output.append(
            {"type": "reasoning", "id": new_item_id("rs"), "summary": [{"type": "summary_text", "text": reasoning}]}
        )
    content = message.get("content")
    if content or not message.get("tool_calls"):
        output.append(
            {
                "type": "message",
                "id": new_item_id("msg"),
                "status": status,
                "role": "assistant",
                "content": [{"type": "output_text", "text": content or "", "annotations": []}],
            }
        )
    for call in message.get("tool_calls") or ():
        output.append(
            {
                "type": "function_call",
                "id": new_item_id("fc"),
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    return output


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_body(body: ResponsesRequest, completion: dict[str, Any], *, created_at: int) -> dict[str, Any]:
    choice = completion["choices"][0]
    incomplete = choice["finish_reason"] == "length"
    status = "incomplete" if incomplete else "completed"
    return {
        "id": new_item_id("resp"),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": None if incomplete else created_at,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": body.model,
        "output": _output(choice["message"], status),
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
        "usage": _usage(completion.get("usage") or {}),
        "user": body.user,
        "metadata": body.metadata or {},
    }


def input_items_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
