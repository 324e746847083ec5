"""Strict, JSON-schema-like validation of /ai/run inputs, one schema per model family.

Workers AI validates every input against the model's JSON schema with additionalProperties false
and answers 400 / 5006 "AiError: Bad input: …" for unknown keys and wrong types
(https://developers.cloudflare.com/workers-ai/platform/errors/ and the text-generation model
pages under https://developers.cloudflare.com/workers-ai/models/). The emulator does the same
so that a gateway sending a field upstream would reject (topP, stop, n, tool_choice…) fails in
tests exactly as it would in production. Messages name the failing property by JSON pointer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Any

from .catalogue import CatalogueModel


class BadInput(Exception):
    """The input does not match the model's schema; str(exc) follows "AiError: Bad input: "."""


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expect(value: Any, path: str, *types: str) -> None:
    actual = json_type(value)
    # JSON Schema: every integer is also a number.
    if actual in types or (actual == "integer" and "number" in types):
        return
    raise BadInput(f"Type mismatch of '{path}', '{actual}' not in '{', '.join(types)}'")


def _object(value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict:
    _expect(value, path or "/", "object")
    allowed_set = set(allowed)
    for key in value:
        if key not in allowed_set:
            raise BadInput(f"additional property '{key}' is not allowed at '{path or '/'}'")
    for key in required:
        if key not in value:
            raise BadInput(f"required property '{key}' is missing at '{path or '/'}'")
    return value


def _number(obj: dict, key: str, path: str, lo: float, hi: float, integer: bool = False) -> None:
    if key not in obj:
        return
    _expect(obj[key], f"{path}/{key}", "integer" if integer else "number")
    if not lo <= obj[key] <= hi:
        raise BadInput(f"'{path}/{key}' must be between {lo:g} and {hi:g}, got {obj[key]}")


def _enum(obj: dict, key: str, path: str, choices: tuple[str, ...]) -> None:
    if key in obj and obj[key] not in choices:
        raise BadInput(f"'{path}/{key}' must be one of {', '.join(choices)}, got {obj[key]!r}")


def _string(obj: dict, key: str, path: str, min_length: int = 0, max_length: int = 10**9) -> None:
    if key not in obj:
        return
    _expect(obj[key], f"{path}/{key}", "string")
    if not min_length <= len(obj[key]) <= max_length:
        raise BadInput(f"'{path}/{key}' length must be between {min_length} and {max_length}")


def _boolean(obj: dict, key: str, path: str) -> None:
    if key in obj:
        _expect(obj[key], f"{path}/{key}", "boolean")


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
    _boolean(body, "raw", "")
    _boolean(body, "stream", "")
    _number(body, "max_tokens", "", 1, 10**9, integer=True)
    _number(body, "temperature", "", 0, 5)
    _number(body, "top_p", "", 0, 2)
    _number(body, "top_k", "", 1, 50, integer=True)
    _number(body, "seed", "", 1, 9999999999, integer=True)
    _number(body, "repetition_penalty", "", 0, 2)
    _number(body, "frequency_penalty", "", -2, 2)
    _number(body, "presence_penalty", "", -2, 2)
    if "response_format" in body:
        fmt = _object(body["response_format"], "/response_format", ("type", "json_schema"), ("type",))
        _enum(fmt, "type", "/response_format", ("json_object", "json_schema"))


def _one_of(body: Any, forms: tuple[str, ...]) -> str:
    _expect(body, "/", "object")
    present = [form for form in forms if form in body]
    if len(present) != 1:
        names = " or ".join(f"'{f}'" for f in forms)
        raise BadInput(f"oneOf at '/' not met: exactly one of {names} is required, got {len(present)}")
    return present[0]


def _tools(body: dict) -> None:
    if "tools" in body:
        _expect(body["tools"], "/tools", "array")
        for i, tool in enumerate(body["tools"]):
            path = f"/tools/{i}"
            if isinstance(tool, dict) and "function" in tool:
                # OpenAI form {type:"function", function:{…}}; the flat legacy form is below.
                _object(tool, path, ("type", "function"), ("type", "function"))
                _enum(tool, "type", path, ("function",))
                tool, path = tool["function"], path + "/function"
            _object(tool, path, ("name", "description", "parameters", "strict"), ("name",))
            _string(tool, "name", path, min_length=1)
            _string(tool, "description", path)
            if "parameters" in tool:
                _expect(tool["parameters"], path + "/parameters", "object")
    if "functions" in body:
        _expect(body["functions"], "/functions", "array")
        for i, fn in enumerate(body["functions"]):
            _object(fn, f"/functions/{i}", ("name", "code"), ("name", "code"))
            _string(fn, "name", f"/functions/{i}")
            _string(fn, "code", f"/functions/{i}")


def _content_part(part: Any, path: str) -> None:
    _object(part, path, ("type", "text", "image_url"), ("type",))
    _enum(part, "type", path, ("text", "image_url"))
    if part["type"] == "text":
        _object(part, path, ("type", "text"), ("text",))
        _string(part, "text", path)
        return
    _object(part, path, ("type", "image_url"), ("image_url",))
    image = _object(part["image_url"], path + "/image_url", ("url", "detail"), ("url",))
    _string(image, "url", path + "/image_url")
    # Only data: URLs are accepted; the gateway must fetch http(s) images itself (reference, Vision).
    if not image["url"].startswith("data:"):
        raise BadInput(f"'{path}/image_url/url' must be a data: URL, got {image['url'][:40]!r}")


def _messages(body: dict, *, content_arrays: bool = False, roles: tuple[str, ...] = _ROLES) -> None:
    messages = body["messages"]
    _expect(messages, "/messages", "array")
    if not messages:
        raise BadInput("'/messages' must NOT have fewer than 1 items")
    for i, message in enumerate(messages):
        path = f"/messages/{i}"
        _object(message, path, _MESSAGE_KEYS, ("role", "content"))
        _expect(message["role"], path + "/role", "string")
        _enum(message, "role", path, roles)
        content = message["content"]
        if content_arrays and isinstance(content, list):
            for j, part in enumerate(content):
                _content_part(part, f"{path}/content/{j}")
        else:
            # Non-vision models take content only as a string (reference, Text generation).
            _expect(content, path + "/content", "string")
        _string(message, "name", path)
        _string(message, "tool_call_id", path)
        if "tool_calls" in message:
            _expect(message["tool_calls"], path + "/tool_calls", "array")


def _image(body: dict) -> None:
    if "image" not in body:
        return
    image = body["image"]
    _expect(image, "/image", "array", "string")
    if isinstance(image, list):
        for i, byte in enumerate(image):
            if json_type(byte) != "integer" or not 0 <= byte <= 255:
                raise BadInput(f"'/image/{i}' must be an integer between 0 and 255")


def validate_text_generation(body: Any, *, vision: bool = False) -> None:
    form = _one_of(body, ("prompt", "messages"))
    extra = {"image"} if vision else set()
    if form == "prompt":
        _object(body, "", PROMPT_KEYS | extra)
        _string(body, "prompt", "", min_length=1)
        _string(body, "lora", "")
    else:
        _object(body, "", MESSAGES_KEYS | extra)
        _messages(body, content_arrays=vision)
        _tools(body)
    if vision:
        _image(body)
    _sampling(body)


def validate_guard(body: Any) -> None:
    _object(body, "", ("messages", "max_tokens", "temperature", "response_format"), ("messages",))
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
        reasoning = _object(body["reasoning"], "/reasoning", ("effort", "summary"))
        _enum(reasoning, "effort", "/reasoning", ("low", "medium", "high"))
        _enum(reasoning, "summary", "/reasoning", ("auto", "concise", "detailed"))


def validate_gpt_oss(body: Any) -> None:
    form = _one_of(body, ("input", "messages"))
    if body.get("stream") is True:
        # The reference documents gpt-oss's Responses API as non-streaming (/ai/v1/responses); the
        # emulator refuses stream:true on /ai/run for both input forms rather than invent a format.
        raise BadInput("'/stream': streaming not supported for this input form")
    _reasoning(body)
    if form == "messages":
        _object(body, "", MESSAGES_KEYS | {"reasoning"})
        _messages(body)
        _tools(body)
        _sampling(body)
        return
    _object(body, "", RESPONSES_KEYS)
    _expect(body["input"], "/input", "string", "array")
    if isinstance(body["input"], list):
        for i, item in enumerate(body["input"]):
            _expect(item, f"/input/{i}", "object")
    _string(body, "instructions", "")
    _number(body, "max_output_tokens", "", 1, 10**9, integer=True)
    _number(body, "temperature", "", 0, 2)
    _number(body, "top_p", "", 0, 1)
    _boolean(body, "stream", "")
    if "tools" in body:
        _expect(body["tools"], "/tools", "array")
        for i, tool in enumerate(body["tools"]):
            path = f"/tools/{i}"
            _object(tool, path, ("type", "name", "description", "parameters", "strict"), ("type", "name"))
            _enum(tool, "type", path, ("function",))
            _string(tool, "name", path, min_length=1)
    if "tool_choice" in body:
        _expect(body["tool_choice"], "/tool_choice", "string", "object")
    if "text" in body:
        _object(body["text"], "/text", ("format", "verbosity"))


# --- other tasks -------------------------------------------------------------------------------

MAX_EMBEDDING_TEXTS = 100  # reference, Embeddings


def validate_embeddings(body: Any, *, pooling: bool) -> None:
    _object(body, "", ("text", "pooling") if pooling else ("text",), ("text",))
    texts = body["text"]
    _expect(texts, "/text", "string", "array")
    items = [texts] if isinstance(texts, str) else texts
    if not items or len(items) > MAX_EMBEDDING_TEXTS:
        raise BadInput(f"'/text' must have between 1 and {MAX_EMBEDDING_TEXTS} items, got {len(items)}")
    for i, text in enumerate(items):
        path = "/text" if isinstance(texts, str) else f"/text/{i}"
        _expect(text, path, "string")
        if not text:
            raise BadInput(f"'{path}' must NOT have fewer than 1 characters")
    _enum(body, "pooling", "", ("mean", "cls"))


def validate_whisper(body: Any) -> None:
    _object(body, "", ("audio",), ("audio",))
    _expect(body["audio"], "/audio", "array")
    for i, byte in enumerate(body["audio"]):
        if json_type(byte) != "integer" or not 0 <= byte <= 255:
            raise BadInput(f"'/audio/{i}' must be an integer between 0 and 255")


_TURBO_KEYS = (
    "audio",
    "task",
    "language",
    "vad_filter",
    "initial_prompt",
    "prefix",
    "beam_size",
    "condition_on_previous_text",
    "no_speech_threshold",
    "compression_ratio_threshold",
    "log_prob_threshold",
    "hallucination_silence_threshold",
)


def validate_whisper_turbo(body: Any) -> None:
    _object(body, "", _TURBO_KEYS, ("audio",))
    _string(body, "audio", "", min_length=1)
    try:
        base64.b64decode(body["audio"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput("'/audio' must be base64-encoded audio") from exc
    _enum(body, "task", "", ("transcribe", "translate"))
    _string(body, "language", "")
    _string(body, "initial_prompt", "")
    _string(body, "prefix", "")
    _boolean(body, "vad_filter", "")
    _boolean(body, "condition_on_previous_text", "")
    _number(body, "beam_size", "", 1, 100, integer=True)


def validate_melotts(body: Any) -> None:
    _object(body, "", ("prompt", "lang"), ("prompt",))
    _string(body, "prompt", "", min_length=1)
    _string(body, "lang", "")


def validate_flux(body: Any) -> None:
    # additionalProperties false: width/height are rejected (reference, Images).
    _object(body, "", ("prompt", "steps"), ("prompt",))
    _string(body, "prompt", "", min_length=1, max_length=2048)
    _number(body, "steps", "", 1, 8, integer=True)


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
        "flux": validate_flux,
    }
    validators.get(model.family, _not_emulated(model))(body)
