"""Request bodies for an OpenAI-compatible upstream: chat/completions, completions, embeddings.

The shapes are OpenAI's (https://platform.openai.com/docs/api-reference/chat/create,
/completions/create, /embeddings/create). Only fields the request sets are sent: servers differ
in which optional fields they know, and an unset field has the same meaning as an absent one.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import ChatMessage, ChatRequest, EmbeddingRequest, ResponseFormat, ToolSpec


def chat_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The chat/completions body; the one place new chat fields are added."""
    body: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        # The gateway sends tools only for tool_choice "auto" and forces a choice through JSON mode
        # itself (gateway/chat/tool_plan.py), so no tool_choice goes upstream: "auto" is the default.
        body["tools"] = [_tool(spec) for spec in request.tools]
    if request.response_format is not None:
        body["response_format"] = _response_format(request.response_format)
    return _with_sampling(body, request, stream=stream)


def completion_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The legacy completions body: the raw prompt, no messages."""
    return _with_sampling({"model": request.model, "prompt": request.prompt}, request, stream=stream)


def embeddings_body(request: EmbeddingRequest) -> dict[str, Any]:
    # Floats asked for explicitly: OpenAI's SDKs default to base64, and some servers follow suit.
    return {"model": request.model, "input": list(request.texts), "encoding_format": "float"}


def _with_sampling(body: dict[str, Any], request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    # `is not None`, never truthiness: temperature 0 must reach the upstream as 0. max_tokens, not
    # max_completion_tokens: vLLM, Ollama and Cloudflare's /ai/v1 all take it.
    optional = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "frequency_penalty": request.frequency_penalty,
        "presence_penalty": request.presence_penalty,
        "reasoning_effort": request.reasoning_effort,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if stream:
        # Without include_usage a stream carries no token counts at all
        # (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _message(message: ChatMessage) -> dict[str, Any]:
    item: dict[str, Any] = {"role": message.role}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        parts += [{"type": "image_url", "image_url": {"url": image.url}} for image in message.images]
        item["content"] = parts
    elif message.tool_calls and not message.content:
        item["content"] = None  # OpenAI's form for an assistant turn that only called tools
    else:
        item["content"] = message.content
    if message.tool_calls:
        item["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.role == "tool":
        # A tool message has tool_call_id and no name in OpenAI's schema (strict servers reject it).
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
    elif message.name:
        item["name"] = message.name
    return item


def _tool(spec: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": spec.name}
    if spec.description:
        function["description"] = spec.description
    if spec.parameters is not None:
        function["parameters"] = spec.parameters
    return {"type": "function", "function": function}


def _response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    # json_schema needs a name (^[a-zA-Z0-9_-]{1,64}$) beside the schema.
    return {"type": "json_schema", "json_schema": {"name": fmt.name or "response", "schema": fmt.schema or {}}}
