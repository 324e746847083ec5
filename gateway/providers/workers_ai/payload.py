"""Request bodies for /ai/run: per model family, only the fields its schema documents.

The classic `{messages, …sampling}` form serves most text-generation models; gpt-oss is spoken to
in the Responses form (`instructions` + `input`). Both are described on the model pages
(https://developers.cloudflare.com/workers-ai/models/, e.g.
https://developers.cloudflare.com/workers-ai/models/gpt-oss-120b/).
"""

from __future__ import annotations

import json
from typing import Any

from gateway.providers.base import ChatMessage, ChatRequest, ResponseFormat, ToolSpec

RESPONSES_MODEL_PREFIX = "@cf/openai/gpt-oss"

# Text-generation schemas take `seed` as an integer in 1..9999999999 (Cloudflare's model schemas;
# gateway/testing/emulator/validation.py enforces the same bound), while OpenAI clients may send
# any 64-bit integer, 0 and negatives included.
SEED_MAX = 9999999999


def uses_responses_form(model: str) -> bool:
    return model.startswith(RESPONSES_MODEL_PREFIX)


def build_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The /ai/run body for the request's model family: the one place new fields are added."""
    if uses_responses_form(request.model):
        return _responses_payload(request)
    return _messages_payload(request, stream=stream)


def _messages_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any]
    if request.prompt is not None:
        body = {"prompt": request.prompt}  # the schema's other oneOf branch: no messages, no tools
    else:
        body = {"messages": [_upstream_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [_tool(spec) for spec in request.tools]
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    # `is not None`, never truthiness: temperature 0 must reach the upstream as 0.
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": None if request.seed is None else upstream_seed(request.seed),
        "frequency_penalty": request.frequency_penalty,
        "presence_penalty": request.presence_penalty,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if stream:
        body["stream"] = True
    return body


def upstream_seed(seed: int) -> int:
    """`seed` folded into 1..SEED_MAX: ((seed - 1) mod SEED_MAX) + 1.

    Seeds already in range pass through unchanged; any other seed lands on the in-range seed
    congruent to it modulo SEED_MAX (0 -> 9999999999, -5 -> 9999999994), so the same client seed
    always asks the upstream for the same sampling, and two seeds less than SEED_MAX apart never
    collide.
    """
    return (seed - 1) % SEED_MAX + 1


def _tool(spec: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": spec.name}
    if spec.description:
        function["description"] = spec.description
    if spec.parameters is not None:
        function["parameters"] = spec.parameters
    return {"type": "function", "function": function}


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    # The schema documents `response_format: {type: "json_object"|"json_schema", json_schema}`.
    body: dict[str, Any] = {"type": fmt.type}
    if fmt.type == "json_schema" and fmt.schema is not None:
        body["json_schema"] = fmt.schema
    return body


def _upstream_message(message: ChatMessage) -> dict[str, Any]:
    content: Any = message.content
    if message.images:
        # Vision models take OpenAI content arrays whose image URLs are data: URLs (reference, Vision).
        content = [{"type": "text", "text": message.content}] if message.content else []
        content += [{"type": "image_url", "image_url": {"url": image.url}} for image in message.images]
    elif message.tool_calls:
        # The classic schema has no field for a past call, so it is written the way the model
        # itself answers a call (`{"name", "arguments": {…}}`), one JSON object per line.
        calls = "\n".join(
            json.dumps({"name": c.name, "arguments": _arguments(c.arguments)}) for c in message.tool_calls
        )
        content = f"{message.content}\n{calls}" if message.content else calls
    item: dict[str, Any] = {"role": message.role, "content": content}
    if message.role == "tool":
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            item["name"] = message.name
    return item


def _responses_payload(request: ChatRequest) -> dict[str, Any]:
    # gpt-oss documents the Responses form: instructions + input, max_output_tokens, temperature,
    # top_p, reasoning. It has no seed or penalties, so those are not sent.
    system = [m.content for m in request.messages if m.role == "system"]
    turns = [m for m in request.messages if m.role != "system"]
    body: dict[str, Any] = {}
    if system:
        body["instructions"] = "\n\n".join(system)
    if len(turns) == 1 and turns[0].role == "user":
        body["input"] = turns[0].content
    else:
        body["input"] = [item for m in turns for item in _responses_items(m)]
    if request.tools:
        body["tools"] = [
            {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters or {}}
            for t in request.tools
        ]
    if request.response_format is not None:
        fmt = request.response_format
        text_format: dict[str, Any] = {"type": fmt.type}
        if fmt.type == "json_schema":
            text_format.update(name=fmt.name or "response", schema=fmt.schema or {})
        body["text"] = {"format": text_format}
    optional = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    # gpt-oss takes low, medium or high (https://developers.cloudflare.com/workers-ai/models/gpt-oss-120b/);
    # OpenAI's "minimal" is its lowest, "none" leaves the model's default.
    if request.reasoning_effort not in (None, "none"):
        body["reasoning"] = {"effort": "low" if request.reasoning_effort == "minimal" else request.reasoning_effort}
    return body


def _responses_items(message: ChatMessage) -> list[dict[str, Any]]:
    # Earlier tool calls and their results are their own input items in the Responses form.
    if message.role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id or "",
                "output": message.content,
            }
        ]
    items: list[dict[str, Any]] = []
    if message.content or not message.tool_calls:
        items.append({"role": message.role, "content": message.content})
    items.extend(
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
    )
    return items


def _arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
