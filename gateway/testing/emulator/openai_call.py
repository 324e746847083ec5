"""One request to the emulator's OpenAI-compatible mode as its endpoint sees it, and the checks
every endpoint shares: the body, the model it names, `stream` and `stream_options`, usage.

OpenAI treats an explicit null like an omitted optional field, so nulls are dropped before any
check (https://platform.openai.com/docs/api-reference/chat/create).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalogue import CatalogueModel, find_model
from .model_reply import StreamEvent
from .openai_errors import Base, bad_input, unknown_model, wrong_task
from .replies import SLOW_PAUSE
from .schema import BadInput, check_boolean, check_object, check_type

if TYPE_CHECKING:
    from .server import WorkersAIEmulator


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OpenAICall:
    base: Base
    body: dict[str, Any]  # the JSON body, or a multipart form's fields (repeated names as lists)
    emulator: WorkersAIEmulator
    files: dict[str, UploadedFile] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.body["model"]


@contextlib.contextmanager
def checked() -> Iterator[None]:
    """The schema checks (schema.py) raise BadInput: answer it as a 400."""
    try:
        yield
    except BadInput as exc:
        raise bad_input(str(exc)) from None


def without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise bad_input("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise bad_input("The request body must be a JSON object.")
    return without_nulls(body)


def check_fields(body: dict[str, Any], allowed: Iterable[str], required: Iterable[str]) -> None:
    """Unknown top-level fields and missing required ones are a 400, as OpenAI answers them."""
    with checked():
        check_object(body, "", allowed, required)
        check_type(body["model"], "/model", "string")


def served_model(call: OpenAICall, endpoint: str, families: Iterable[str]) -> CatalogueModel:
    model = find_model(call.model_name)
    if model is None:
        raise unknown_model(call.model_name)
    if model.family not in set(families):
        raise wrong_task(call.model_name, endpoint)
    return model


def stream_flags(call: OpenAICall) -> tuple[bool, bool]:
    """(stream, send the usage chunk). OpenAI refuses stream_options without stream; the usage
    chunk goes out only when asked and set_openai_stream_usage has not turned it off."""
    body = call.body
    with checked():
        check_boolean(body, "stream", "")
        if "stream_options" in body:
            options = check_object(body["stream_options"], "/stream_options", ("include_usage", "include_obfuscation"))
            check_boolean(options, "include_usage", "/stream_options")
    stream = body.get("stream") is True
    if "stream_options" in body and not stream:
        raise bad_input("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    asked = stream and body.get("stream_options", {}).get("include_usage") is True
    return stream, asked and call.emulator._openai_stream_usage()


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def sse(chunks: list[dict[str, Any]], *, slow: bool) -> tuple[StreamEvent, ...]:
    """The chunks as SSE events ending in [DONE]; a [[slow]] model pauses after its first event,
    as it does on /ai/run."""
    events = [StreamEvent(chunk, SLOW_PAUSE if slow and i == 1 else 0.0) for i, chunk in enumerate(chunks)]
    return (*events, StreamEvent("[DONE]"))
