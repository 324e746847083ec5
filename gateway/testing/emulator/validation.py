"""Strict, JSON-schema-like validation of /ai/run inputs, one schema per model family.

Workers AI validates every input against the model's JSON schema with additionalProperties false
and answers 400 / 5006 "AiError: Bad input: …" for unknown keys and wrong types
(https://developers.cloudflare.com/workers-ai/platform/errors/ and the text-generation model
pages under https://developers.cloudflare.com/workers-ai/models/). The emulator does the same
so that a gateway sending a field upstream would reject (topP, stop, n, tool_choice…) fails in
tests exactly as it would in production. Messages name the failing property by JSON pointer.
The checks themselves are in schema.py; the speech models' schemas in speech_input.py, the image
models' in image_models.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalogue import CatalogueModel
from .image_models import validate_flux, validate_sdxl
from .schema import (
    BadInput,
    check_boolean,
    check_bytes,
    check_enum,
    check_number,
    check_object,
    check_string,
    check_type,
)
from .speech_input import validate_aura, validate_melotts, validate_whisper, validate_whisper_turbo

__all__ = ["BadInput", "validate_input"]


# --- text generation -------------------------------------------------------------------------

# The sampling keys every text-generation schema shares. top_p: Cloudflare's schemas disagree
# (some say 0.001–1, others 0–2); the emulator accepts the wider 0–2 so it never rejects a value
# some real model accepts.
_SAMPLING = {
    "raw",
    "stream",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
}
PROMPT_KEYS = frozenset({"prompt", "lora"} | _SAMPLING)
MESSAGES_KEYS = frozenset({"messages", "tools", "functions"} | _SAMPLING)
_MESSAGE_KEYS = ("role", "content", "name", "tool_call_id", "tool_calls")
_ROLES = ("system", "user", "assistant", "tool")


def _sampling(body: dict) -> None:
    check_boolean(body, "raw", "")
    check_boolean(body, "stream", "")
    check_number(body, "max_tokens", "", 1, 10**9, integer=True)
    check_number(body, "temperature", "", 0, 5)
    check_number(body, "top_p", "", 0, 2)
    check_number(body, "top_k", "", 1, 50, integer=True)
    check_number(body, "seed", "", 1, 9999999999, integer=True)
    check_number(body, "repetition_penalty", "", 0, 2)
    check_number(body, "frequency_penalty", "", -2, 2)
    check_number(body, "presence_penalty", "", -2, 2)
    if "response_format" in body:
        fmt = check_object(body["response_format"], "/response_format", ("type", "json_schema"), ("type",))
        check_enum(fmt, "type", "/response_format", ("json_object", "json_schema"))


def _one_of(body: Any, forms: tuple[str, ...]) -> str:
    check_type(body, "/", "object")
    present = [form for form in forms if form in body]
    if len(present) != 1:
        names = " or ".join(f"'{f}'" for f in forms)
        raise BadInput(f"oneOf at '/' not met: exactly one of {names} is required, got {len(present)}")
    return present[0]


def _tools(body: dict) -> None:
    if "tools" in body:
        check_type(body["tools"], "/tools", "array")
        for i, tool in enumerate(body["tools"]):
            path = f"/tools/{i}"
            if isinstance(tool, dict) and "function" in tool:
                # OpenAI form {type:"function", function:{…}}; the flat legacy form is below.
                check_object(tool, path, ("type", "function"), ("type", "function"))
                check_enum(tool, "type", path, ("function",))
                tool, path = tool["function"], path + "/function"
            check_object(tool, path, ("name", "description", "parameters", "strict"), ("name",))
            check_string(tool, "name", path, min_length=1)
            check_string(tool, "description", path)
            if "parameters" in tool:
                check_type(tool["parameters"], path + "/parameters", "object")
    if "functions" in body:
        check_type(body["functions"], "/functions", "array")
        for i, fn in enumerate(body["functions"]):
            check_object(fn, f"/functions/{i}", ("name", "code"), ("name", "code"))
            check_string(fn, "name", f"/functions/{i}")
            check_string(fn, "code", f"/functions/{i}")


def _content_part(part: Any, path: str) -> None:
    check_object(part, path, ("type", "text", "image_url"), ("type",))
    check_enum(part, "type", path, ("text", "image_url"))
    if part["type"] == "text":
        check_object(part, path, ("type", "text"), ("text",))
        check_string(part, "text", path)
        return
    check_object(part, path, ("type", "image_url"), ("image_url",))
    image = check_object(part["image_url"], path + "/image_url", ("url", "detail"), ("url",))
    check_string(image, "url", path + "/image_url")
    # Only data: URLs are accepted; the gateway must fetch http(s) images itself (reference, Vision).
    if not image["url"].startswith("data:"):
        raise BadInput(f"'{path}/image_url/url' must be a data: URL, got {image['url'][:40]!r}")


def _messages(body: dict, *, content_arrays: bool = False, roles: tuple[str, ...] = _ROLES) -> None:
    messages = body["messages"]
    check_type(messages, "/messages", "array")
    if not messages:
        raise BadInput("'/messages' must NOT have fewer than 1 items")
    for i, message in enumerate(messages):
        path = f"/messages/{i}"
        check_object(message, path, _MESSAGE_KEYS, ("role", "content"))
        check_type(message["role"], path + "/role", "string")
        check_enum(message, "role", path, roles)
        content = message["content"]
        if content_arrays and isinstance(content, list):
            for j, part in enumerate(content):
                _content_part(part, f"{path}/content/{j}")
        else:
            # Non-vision models take content only as a string (reference, Text generation).
            check_type(content, path + "/content", "string")
        check_string(message, "name", path)
        check_string(message, "tool_call_id", path)
        if "tool_calls" in message:
            check_type(message["tool_calls"], path + "/tool_calls", "array")


def _image(body: dict) -> None:
    if "image" not in body:
        return
    image = body["image"]
    check_type(image, "/image", "array", "string")
    if isinstance(image, list):
        check_bytes(image, "/image")


def validate_text_generation(body: Any, *, vision: bool = False) -> None:
    form = _one_of(body, ("prompt", "messages"))
    extra = {"image"} if vision else set()
    if form == "prompt":
        check_object(body, "", PROMPT_KEYS | extra)
        check_string(body, "prompt", "", min_length=1)
        check_string(body, "lora", "")
    else:
        check_object(body, "", MESSAGES_KEYS | extra)
        _messages(body, content_arrays=vision)
        _tools(body)
    if vision:
        _image(body)
    _sampling(body)


def validate_guard(body: Any) -> None:
    check_object(body, "", ("messages", "max_tokens", "temperature", "response_format"), ("messages",))
    _messages(body, roles=("user", "assistant"))
    _sampling(body)


# --- gpt-oss -----------------------------------------------------------------------------------

RESPONSES_KEYS = frozenset(
    {
        "input",
        "instructions",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "text",
        "stream",
    }
)


def _reasoning(body: dict) -> None:
    if "reasoning" in body:
        reasoning = check_object(body["reasoning"], "/reasoning", ("effort", "summary"))
        check_enum(reasoning, "effort", "/reasoning", ("low", "medium", "high"))
        check_enum(reasoning, "summary", "/reasoning", ("auto", "concise", "detailed"))


def validate_gpt_oss(body: Any) -> None:
    form = _one_of(body, ("input", "messages"))
    if body.get("stream") is True:
        # The reference documents gpt-oss's Responses API as non-streaming (/ai/v1/responses); the
        # emulator refuses stream:true on /ai/run for both input forms rather than invent a format.
        raise BadInput("'/stream': streaming not supported for this input form")
    _reasoning(body)
    if form == "messages":
        check_object(body, "", MESSAGES_KEYS | {"reasoning"})
        _messages(body)
        _tools(body)
        _sampling(body)
        return
    check_object(body, "", RESPONSES_KEYS)
    check_type(body["input"], "/input", "string", "array")
    if isinstance(body["input"], list):
        for i, item in enumerate(body["input"]):
            check_type(item, f"/input/{i}", "object")
    check_string(body, "instructions", "")
    check_number(body, "max_output_tokens", "", 1, 10**9, integer=True)
    check_number(body, "temperature", "", 0, 2)
    check_number(body, "top_p", "", 0, 1)
    check_boolean(body, "stream", "")
    if "tools" in body:
        check_type(body["tools"], "/tools", "array")
        for i, tool in enumerate(body["tools"]):
            path = f"/tools/{i}"
            check_object(tool, path, ("type", "name", "description", "parameters", "strict"), ("type", "name"))
            check_enum(tool, "type", path, ("function",))
            check_string(tool, "name", path, min_length=1)
    if "tool_choice" in body:
        check_type(body["tool_choice"], "/tool_choice", "string", "object")
    if "text" in body:
        check_object(body["text"], "/text", ("format", "verbosity"))


# --- other tasks -------------------------------------------------------------------------------

MAX_EMBEDDING_TEXTS = 100  # reference, Embeddings


def validate_embeddings(body: Any, *, pooling: bool) -> None:
    check_object(body, "", ("text", "pooling") if pooling else ("text",), ("text",))
    texts = body["text"]
    check_type(texts, "/text", "string", "array")
    items = [texts] if isinstance(texts, str) else texts
    if not items or len(items) > MAX_EMBEDDING_TEXTS:
        raise BadInput(f"'/text' must have between 1 and {MAX_EMBEDDING_TEXTS} items, got {len(items)}")
    for i, text in enumerate(items):
        path = "/text" if isinstance(texts, str) else f"/text/{i}"
        check_type(text, path, "string")
        if not text:
            raise BadInput(f"'{path}' must NOT have fewer than 1 characters")
    check_enum(body, "pooling", "", ("mean", "cls"))


def _not_emulated(model: CatalogueModel) -> Callable[[Any], None]:
    def refuse(body: Any) -> None:
        raise BadInput(f"{model.name} ({model.task}) is in the catalogue but not emulated")

    return refuse


def validate_input(model: CatalogueModel, body: Any) -> None:
    """Raise BadInput unless `body` (parsed JSON) is a valid input for `model`."""
    validators: dict[str, Callable[[Any], None]] = {
        "llama": validate_text_generation,
        "qwq": validate_text_generation,
        "r1-distill": validate_text_generation,
        "qwen3": validate_text_generation,
        "vision": lambda b: validate_text_generation(b, vision=True),
        "gpt-oss": validate_gpt_oss,
        "guard": validate_guard,
        "embeddings": lambda b: validate_embeddings(b, pooling=model.name.endswith("-en-v1.5")),
        "whisper": validate_whisper,
        "whisper-turbo": validate_whisper_turbo,
        "melotts": validate_melotts,
        "aura": lambda b: validate_aura(model.name, b),
        "flux": validate_flux,
        "sdxl": validate_sdxl,
    }
    validators.get(model.family, _not_emulated(model))(body)
