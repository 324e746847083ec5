"""Request fields every generation endpoint shares, validated the same way everywhere.

Ranges follow https://platform.openai.com/docs/api-reference/chat/create; each refusal is a 400
naming its parameter.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import invalid

# Model names are stored with every usage record (a 200-character column) and used in cache keys:
# a longer name, or one with control characters (NUL cannot even be stored), names no model.
MODEL_NAME_MAX = 200


def check_model_name(model: str) -> str:
    if len(model) > MODEL_NAME_MAX:
        raise invalid(
            f"The model name is {len(model)} characters long; model names have at most {MODEL_NAME_MAX}.",
            param="model",
            code="invalid_model_name",
        )
    if not model.isprintable():
        raise invalid("The model name contains control characters.", param="model", code="invalid_model_name")
    return model


def parse_model(data: Any) -> str:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("You must provide a model parameter.", param="model")
    return check_model_name(model)


def parse_number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{name}' must be a number.", param=name)
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low:g} and {high:g}; got {value}.", param=name)
    return float(value)


def parse_integer(data: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{name}' must be an integer.", param=name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"'{name}' must be {bound}; got {value}.", param=name)
    return value


def parse_stop(data: dict[str, Any]) -> tuple[str, ...]:
    stop = data.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(item, str) for item in stop):
        return tuple(item for item in stop if item)
    raise invalid("'stop' must be a string or an array of at most 4 strings.", param="stop")


def parse_streaming(data: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, stream_options.include_usage)."""
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise invalid("'stream' must be a boolean.", param="stream")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("'stream_options' must be an object.", param="stream_options")
    return stream, bool(options and options.get("include_usage"))


# OpenAI's reasoning efforts (chat's `reasoning_effort`, the Responses API's `reasoning.effort`).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")


def parse_reasoning_effort(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if value not in REASONING_EFFORTS:
        raise invalid(f"'{param}' must be one of {', '.join(REASONING_EFFORTS)}.", param=param)
    return str(value)


def parse_sampling(data: dict[str, Any]) -> dict[str, Any]:
    """The sampling fields chat and completion requests share, as keyword arguments."""
    return {
        "temperature": parse_number(data, "temperature", 0, 2),
        "top_p": parse_number(data, "top_p", 0, 1),
        "seed": parse_integer(data, "seed", -(2**63), 2**63 - 1),
        "frequency_penalty": parse_number(data, "frequency_penalty", -2, 2),
        "presence_penalty": parse_number(data, "presence_penalty", -2, 2),
        "stop": parse_stop(data),
    }
