"""The JSON-schema-like checks every input validator is built from (validation.py,
speech_input.py), and the BadInput they raise.

Workers AI checks every /ai/run input against the model's JSON schema with additionalProperties
false and answers 400 / 5006 "AiError: Bad input: …" for unknown keys and wrong types
(https://developers.cloudflare.com/workers-ai/platform/errors/). Messages name the failing
property by JSON pointer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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


def check_type(value: Any, path: str, *types: str) -> None:
    actual = json_type(value)
    # JSON Schema: every integer is also a number.
    if actual in types or (actual == "integer" and "number" in types):
        return
    raise BadInput(f"Type mismatch of '{path}', '{actual}' not in '{', '.join(types)}'")


def check_object(value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict:
    check_type(value, path or "/", "object")
    allowed_set = set(allowed)
    for key in value:
        if key not in allowed_set:
            raise BadInput(f"additional property '{key}' is not allowed at '{path or '/'}'")
    for key in required:
        if key not in value:
            raise BadInput(f"required property '{key}' is missing at '{path or '/'}'")
    return value


def check_number(obj: dict, key: str, path: str, lo: float, hi: float, integer: bool = False) -> None:
    if key not in obj:
        return
    check_type(obj[key], f"{path}/{key}", "integer" if integer else "number")
    if not lo <= obj[key] <= hi:
        raise BadInput(f"'{path}/{key}' must be between {lo:g} and {hi:g}, got {obj[key]}")


def check_enum(obj: dict, key: str, path: str, choices: tuple[str, ...]) -> None:
    if key in obj and obj[key] not in choices:
        raise BadInput(f"'{path}/{key}' must be one of {', '.join(choices)}, got {obj[key]!r}")


def check_string(obj: dict, key: str, path: str, min_length: int = 0, max_length: int = 10**9) -> None:
    if key not in obj:
        return
    check_type(obj[key], f"{path}/{key}", "string")
    if not min_length <= len(obj[key]) <= max_length:
        raise BadInput(f"'{path}/{key}' length must be between {min_length} and {max_length}")


def check_boolean(obj: dict, key: str, path: str) -> None:
    if key in obj:
        check_type(obj[key], f"{path}/{key}", "boolean")


def check_bytes(value: Any, path: str) -> None:
    """A uint8 array (image and audio bytes as JSON)."""
    check_type(value, path, "array")
    for i, byte in enumerate(value):
        if json_type(byte) != "integer" or not 0 <= byte <= 255:
            raise BadInput(f"'{path}/{i}' must be an integer between 0 and 255")
