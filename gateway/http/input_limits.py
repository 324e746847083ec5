"""Input limits: each refused with a 400 (431 for headers) whose message names the limit and its
setting, before any work is done on the input. README "Input limits" lists them.

JSON bodies are parsed here (DRF's parser for every view, config/settings.py) and walked once:
nesting depth, array lengths, string lengths and NUL characters (in keys too), wherever they sit.
Narrower limits (tools, their schemas) are checked where those fields are read; body size before a
byte is read (gateway/http/middleware.py); multipart field and file counts by Django's own settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from gateway.errors import GatewayError, invalid


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def array_too_long(param: str, length: int, limit: int, setting: str) -> GatewayError:
    return invalid(
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, but got an "
        f"array with length {length} instead ({setting}).",
        param=param,
        code="array_above_max_length",
    )


def _has_nul(param: str) -> GatewayError:
    return invalid(
        f"Invalid '{param}': the NUL character (U+0000) is not accepted: the gateway stores requests in "
        "Postgres, whose text cannot hold it.",
        param=param,
        code="invalid_value",
    )


def check_body(data: Any) -> None:
    """Depth, array lengths, string lengths and NUL characters of a parsed JSON body, one
    iterative walk."""
    max_depth = settings.GATEWAY_MAX_JSON_DEPTH
    max_items = settings.GATEWAY_MAX_ARRAY_ITEMS
    max_chars = settings.GATEWAY_MAX_STRING_CHARS
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if len(value) > max_chars:
                raise invalid(
                    f"Invalid '{_path(path)}': string too long. Expected a string with maximum length "
                    f"{max_chars}, but got a string with length {len(value)} instead (GATEWAY_MAX_STRING_CHARS).",
                    param=_path(path),
                    code="string_above_max_length",
                )
            if "\x00" in value:
                raise _has_nul(_path(path))
            continue
        if not isinstance(value, (list, dict)):
            continue
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(value, list):
            if len(value) > max_items:
                raise array_too_long(_path(path), len(value), max_items, "GATEWAY_MAX_ARRAY_ITEMS")
            stack.extend((item, depth + 1, (*path, index)) for index, item in enumerate(value))
        else:
            for key in value:
                if "\x00" in key:
                    raise _has_nul(_path(path) if path else "body")
            stack.extend((item, depth + 1, (*path, key)) for key, item in value.items())


def _too_deep(limit: int) -> GatewayError:
    return invalid(
        f"The JSON body is nested more than {limit} levels deep (GATEWAY_MAX_JSON_DEPTH).",
        code="json_too_deep",
    )


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, then `check_body`. Python's decoder recurses once per nesting level, so a
    body nested past the interpreter's recursion limit fails inside it: that is the depth limit too."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep(settings.GATEWAY_MAX_JSON_DEPTH) from None
        check_body(data)
        return data


def check_headers(meta: Mapping[str, Any]) -> GatewayError | None:
    """431 when the request's headers (names and values) exceed GATEWAY_MAX_HEADER_BYTES."""
    limit = settings.GATEWAY_MAX_HEADER_BYTES
    size = sum(len(name) - 5 + len(str(value)) for name, value in meta.items() if name.startswith("HTTP_"))
    if size <= limit:
        return None
    return GatewayError(
        431,
        f"The request's headers are {size} bytes; at most {limit} are allowed (GATEWAY_MAX_HEADER_BYTES).",
        code="request_header_fields_too_large",
    )


def check_tool_schema(parameters: dict[str, Any], param: str) -> None:
    """A function's JSON Schema, at most GATEWAY_MAX_TOOL_SCHEMA_BYTES as compact JSON."""
    limit = settings.GATEWAY_MAX_TOOL_SCHEMA_BYTES
    size = len(json.dumps(parameters, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise invalid(
            f"Invalid '{param}': the schema is {size} bytes as JSON; at most {limit} are allowed "
            "(GATEWAY_MAX_TOOL_SCHEMA_BYTES).",
            param=param,
            code="schema_too_large",
        )
