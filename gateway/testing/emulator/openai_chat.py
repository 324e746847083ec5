"""POST chat/completions in the OpenAI-compatible mode (both bases): the OpenAI request becomes
the model's Workers AI `messages` input, runs through /ai/run's own code (openai_generation.py),
and leaves as a chat.completion or chat.completion.chunk events
(https://platform.openai.com/docs/api-reference/chat/create,
https://platform.openai.com/docs/api-reference/chat-streaming).

Translation: `developer` becomes `system`; text parts join into a string (only the vision model
takes content arrays, image_url as data: URLs); an assistant's null content becomes "" (Workers AI
wants a string); `tool_choice` "none" drops the tools and a named function keeps only that tool
(the model still calls a tool only on its usual triggers, replies.py); `response_format`
json_object / json_schema is the model's JSON mode; `reasoning_effort` reaches gpt-oss as
`reasoning.effort`. `n` runs the model n times; usage counts the prompt once and every choice's
completion. Accepted and ignored: logprobs, top_logprobs, logit_bias, parallel_tool_calls,
metadata, store, service_tier, modalities, prediction, user and the like.
"""

from __future__ import annotations

from typing import Any

from .catalogue import CatalogueModel
from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, checked, new_id, now, served_model, sse, stream_flags, usage
from .openai_errors import bad_input
from .openai_generation import (
    TEXT_FAMILIES,
    Generation,
    check_sampling,
    generate,
    pieces,
    sampling_input,
    stop_sequences,
)
from .schema import BadInput, check_boolean, check_enum, check_number, check_object, check_string, check_type

CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "parallel_tool_calls",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "user",
        "metadata",
        "reasoning_effort",
        "modalities",
        "prediction",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
    }
)
_ROLES = ("developer", "system", "user", "assistant", "tool")
_GUARD_KEYS = ("messages", "max_tokens", "temperature", "response_format")
_EFFORTS = ("none", "minimal", "low", "medium", "high")


def chat_completions(call: OpenAICall) -> ModelReply:
    body = call.body
    check_fields(body, CHAT_FIELDS, ("model", "messages"))
    check_sampling(body)
    stream, send_usage = stream_flags(call)
    _check_options(body)
    model = served_model(call, "chat/completions", TEXT_FAMILIES)
    wa_input = model_input(model, body)
    runs = [generate(model, wa_input, stop=stop_sequences(body)) for _ in range(body.get("n", 1))]
    ident, created = new_id("chatcmpl-"), now()
    head = {"id": ident, "object": "chat.completion", "created": created, "model": call.model_name}
    total = usage(runs[0].prompt_tokens, sum(run.completion_tokens for run in runs))
    slow = any(run.delay for run in runs)
    if not stream:
        choices = [_choice(i, run) for i, run in enumerate(runs)]
        payload = {**head, "choices": choices, "usage": total}
        return ModelReply(result=payload, delay=max(run.delay for run in runs))
    chunk_head = {**head, "object": "chat.completion.chunk"}
    extra = {"usage": None} if send_usage else {}
    chunks = [
        {**chunk_head, "choices": [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        for i, run in enumerate(runs)
        for delta, finish in _deltas(run)
    ]
    if send_usage:
        chunks.append({**chunk_head, "choices": [], "usage": total})
    return ModelReply(events=sse(chunks, slow=slow))


def _check_options(body: dict[str, Any]) -> None:
    with checked():
        check_boolean(body, "logprobs", "")
        check_boolean(body, "parallel_tool_calls", "")
        check_number(body, "top_logprobs", "", 0, 20, integer=True)
        check_enum(body, "reasoning_effort", "", _EFFORTS)
        if "response_format" in body:
            fmt = check_object(body["response_format"], "/response_format", ("type", "json_schema"), ("type",))
            check_enum(fmt, "type", "/response_format", ("text", "json_object", "json_schema"))
            if fmt["type"] == "json_schema":
                schema = fmt.get("json_schema")
                check_object(schema, "/response_format/json_schema", ("name", "description", "schema", "strict"))
                check_string(schema, "name", "/response_format/json_schema", min_length=1)
        check_type(body["messages"], "/messages", "array")
        if not body["messages"]:
            raise BadInput("'/messages' must NOT have fewer than 1 items")


def model_input(model: CatalogueModel, body: dict[str, Any]) -> dict[str, Any]:
    """The model's Workers AI input for an OpenAI chat body (see the module docstring)."""
    wa_input: dict[str, Any] = {"messages": [_message(m, i, model.vision) for i, m in enumerate(body["messages"])]}
    tools = _tools(body)
    if tools:
        wa_input["tools"] = tools
    wa_input.update(sampling_input(body))
    fmt = body.get("response_format", {})
    if fmt.get("type") in ("json_object", "json_schema"):
        wa_input["response_format"] = fmt
    effort = body.get("reasoning_effort")
    if model.family == "gpt-oss" and effort not in (None, "none"):
        # gpt-oss knows low, medium and high (its model page); "minimal" is the least it can do.
        wa_input["reasoning"] = {"effort": "low" if effort == "minimal" else effort}
    if model.family == "guard":
        # Llama Guard's schema takes only these (validation.validate_guard).
        wa_input = {key: value for key, value in wa_input.items() if key in _GUARD_KEYS}
    return wa_input


def _message(message: Any, index: int, vision: bool) -> dict[str, Any]:
    path = f"/messages/{index}"
    with checked():
        check_object(message, path, ("role", "content", "name", "tool_call_id", "tool_calls", "refusal"), ("role",))
        check_enum(message, "role", path, _ROLES)
        check_string(message, "name", path)
        check_string(message, "tool_call_id", path)
        if message["role"] == "tool" and "tool_call_id" not in message:
            raise BadInput(f"required property 'tool_call_id' is missing at '{path}'")
        content = message.get("content")
        if content is None and message["role"] != "assistant":
            raise BadInput(f"required property 'content' is missing at '{path}'")
        check_type(content, path + "/content", "string", "array", "null")
    out: dict[str, Any] = {
        "role": "system" if message["role"] == "developer" else message["role"],
        "content": _content(content, path, vision),
    }
    for key in ("name", "tool_call_id", "tool_calls"):
        if key in message:
            out[key] = message[key]
    return out


def _content(content: Any, path: str, vision: bool) -> Any:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "image_url"):
            raise bad_input(f"'{path}/content/{j}': content parts of type {kind!r} are not supported.", "messages")
        if kind == "image_url" and not vision:
            raise bad_input(f"'{path}/content/{j}': this model does not take images.", "messages")
    if vision and any(part["type"] == "image_url" for part in content):
        return content  # the vision model's schema checks the parts (data: URLs only)
    return "\n".join(str(part.get("text", "")) for part in content)


def _tools(body: dict[str, Any]) -> list[Any]:
    tools = body.get("tools", [])
    choice = body.get("tool_choice", "auto")
    with checked():
        check_type(tools, "/tools", "array")
        if isinstance(choice, str):
            check_enum(body, "tool_choice", "", ("none", "auto", "required"))
        else:
            check_object(choice, "/tool_choice", ("type", "function"), ("type", "function"))
            check_object(choice["function"], "/tool_choice/function", ("name",), ("name",))
    if choice == "none":
        return []
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        named = [t for t in tools if isinstance(t, dict) and (t.get("function") or {}).get("name") == name]
        if not named:
            raise bad_input(f"tool_choice names the function {name!r}, which is not among the tools.", "tool_choice")
        return named
    return tools


def _choice(index: int, run: Generation) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": run.content, "refusal": None}
    if run.reasoning is not None:
        message["reasoning_content"] = run.reasoning
    if run.tool_calls:
        message["tool_calls"] = [call.to_dict() for call in run.tool_calls]
    return {"index": index, "message": message, "logprobs": None, "finish_reason": run.finish_reason}


def _deltas(run: Generation) -> list[tuple[dict[str, Any], str | None]]:
    """One choice's deltas: the role once, reasoning and content token by token, each tool call's
    id, type and name once then its arguments in fragments (the SDK concatenates repeated
    strings), and the finish reason on an empty delta."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": piece} for piece in pieces(run.reasoning or "")]
    deltas += [{"content": piece} for piece in pieces(run.content or "")]
    for k, call in enumerate(run.tool_calls):
        first = {"index": k, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        deltas.append({"tool_calls": [first]})
        half = len(call.arguments) // 2
        for fragment in (call.arguments[:half], call.arguments[half:]):
            if fragment:
                deltas.append({"tool_calls": [{"index": k, "function": {"arguments": fragment}}]})
    return [(delta, None) for delta in deltas] + [({}, run.finish_reason)]
