"""The `input` of POST /v1/responses: items validated and normalised, then turned into chat messages.

Items (https://platform.openai.com/docs/api-reference/responses/create#responses-create-input):
messages `{role, content}` (also `{type: "message", …}`) whose content is a string or
input_text / input_image parts (output_text on assistant turns), `function_call` and
`function_call_output`. Normalised items carry ids (msg_, fc_, fco_) and OpenAI's item shapes: they
are what GET /v1/responses/{id}/input_items lists and what a later previous_response_id replays.
Chat messages are built through gateway/chat/request.py's parse_message, so images are checked by
chat's rules.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from gateway.chat.request import parse_message
from gateway.errors import invalid
from gateway.providers.base import ChatMessage

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MESSAGE_ROLES = {"user", "system", "developer", "assistant"}


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        field = param.rsplit(".", 1)[-1]
        raise invalid(f"'{field}' must be a string.", param=param)
    return value


def _part(raw: Any, param: str, role: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise invalid("Each content part must be an object with a 'type'.", param=param)
    kind = raw["type"]
    if kind in {"input_text", "output_text", "text"}:
        text = _text(raw.get("text"), f"{param}.text")
        if role == "assistant":
            return {"type": "output_text", "text": text, "annotations": []}
        return {"type": "input_text", "text": text}
    if kind == "refusal" and role == "assistant":
        return {"type": "output_text", "text": _text(raw.get("refusal"), f"{param}.refusal"), "annotations": []}
    if kind == "input_image":
        if role != "user":
            raise invalid("Images are allowed in user messages only.", param=f"{param}.type")
        if raw.get("file_id") is not None and raw.get("image_url") is None:
            raise invalid("Images by file_id are not supported: send image_url.", param=f"{param}.file_id")
        detail = raw.get("detail") or "auto"
        if not isinstance(detail, str) or detail not in {"auto", "low", "high"}:
            raise invalid("'detail' must be auto, low or high.", param=f"{param}.detail")
        return {"type": "input_image", "image_url": _text(raw.get("image_url"), f"{param}.image_url"), "detail": detail}
    if kind == "input_file":
        raise invalid("File inputs are not supported on this gateway yet.", param=f"{param}.type")
    raise invalid(f"Content parts of type '{kind}' are not supported: send input_text or input_image.", param=param)


def _message_item(raw: dict[str, Any], param: str) -> dict[str, Any]:
    role = raw.get("role")
    if not isinstance(role, str) or role not in _MESSAGE_ROLES:
        raise invalid(f"'{role}' is not a valid role: use user, system, developer or assistant.", param=f"{param}.role")
    content = raw.get("content")
    if isinstance(content, str):
        content = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
    if not isinstance(content, list):
        raise invalid("A message's content must be a string or an array of parts.", param=f"{param}.content")
    parts = [_part(part, f"{param}.content[{index}]", role) for index, part in enumerate(content)]
    given = raw.get("id")
    return {
        "id": given if isinstance(given, str) and given else new_item_id("msg"),
        "type": "message",
        "role": role,
        "status": "completed",
        "content": parts,
    }


def _function_call_item(raw: dict[str, Any], param: str) -> dict[str, Any]:
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("A function call needs the function's 'name'.", param=f"{param}.name")
    given = raw.get("id")
    return {
        "id": given if isinstance(given, str) and given else new_item_id("fc"),
        "type": "function_call",
        "call_id": _text(raw.get("call_id"), f"{param}.call_id"),
        "name": name,
        "arguments": _text(raw.get("arguments"), f"{param}.arguments"),
        "status": "completed",
    }


def _function_output_item(raw: dict[str, Any], param: str) -> dict[str, Any]:
    output = raw.get("output")
    if isinstance(output, list):  # text parts
        output = "\n".join(_part(part, f"{param}.output[{i}]", "user").get("text", "") for i, part in enumerate(output))
    given = raw.get("id")
    return {
        "id": given if isinstance(given, str) and given else new_item_id("fco"),
        "type": "function_call_output",
        "call_id": _text(raw.get("call_id"), f"{param}.call_id"),
        "output": _text(output, f"{param}.output"),
        "status": "completed",
    }


def parse_input(raw: Any) -> tuple[dict[str, Any], ...]:
    """`input` as normalised items with ids; reasoning items sent back are dropped."""
    if isinstance(raw, str):
        return (_message_item({"role": "user", "content": raw}, "input"),)
    if not isinstance(raw, list) or not raw:
        raise invalid("'input' must be a string or a non-empty array of items.", param="input")
    items = []
    for index, item in enumerate(raw):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid("Each input item must be an object.", param=param)
        kind = item.get("type", "message")
        if kind == "message":
            items.append(_message_item(item, param))
        elif kind == "function_call":
            items.append(_function_call_item(item, param))
        elif kind == "function_call_output":
            items.append(_function_output_item(item, param))
        elif isinstance(kind, str) and kind in {"reasoning", "file_search_call"}:  # a set: a str only
            continue  # a previous output replayed: the answer that followed it carries what it gave
        else:
            raise invalid(f"Input items of type '{kind}' are not supported on this gateway.", param=f"{param}.type")
    images = sum(1 for item in items for part in item.get("content", ()) if part.get("type") == "input_image")
    if images > settings.GATEWAY_MAX_IMAGES_PER_REQUEST:
        raise invalid(
            f"A request may carry at most {settings.GATEWAY_MAX_IMAGES_PER_REQUEST} images; this one has {images}.",
            param="input",
            code="too_many_images",
        )
    return tuple(items)


def _chat_content(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses content parts as chat's, one for one (so error params keep their indexes)."""
    return [
        {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part["detail"]}}
        if part["type"] == "input_image"
        else {"type": "text", "text": part.get("text", "")}
        for part in parts
    ]


def chat_messages(items: Sequence[dict[str, Any]], param: str) -> tuple[ChatMessage, ...]:
    """Normalised items (input or stored output) as chat messages: consecutive function calls join
    the assistant turn before them, each function_call_output becomes a tool message."""
    raw_messages: list[tuple[dict[str, Any], str]] = []
    for index, item in enumerate(items):
        item_param = f"{param}[{index}]" if param == "input" else param
        kind = item.get("type")
        if kind == "message":
            raw_messages.append(({"role": item["role"], "content": _chat_content(item["content"])}, item_param))
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = raw_messages[-1][0] if raw_messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                raw_messages.append(({"role": "assistant", "content": None, "tool_calls": [call]}, item_param))
        elif kind == "function_call_output":
            raw_messages.append(
                ({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}, item_param)
            )
    return tuple(parse_message(raw, item_param) for raw, item_param in raw_messages)
