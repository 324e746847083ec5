"""The tool-calling and structured-output parts of a chat request, validated into typed values.

Covers `tools` / `tool_choice` / `parallel_tool_calls`, their deprecated `functions` /
`function_call` forms (still sent by older clients), assistant `tool_calls` in the history, and
`response_format` (https://platform.openai.com/docs/api-reference/chat/create).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.errors import invalid
from gateway.http.input_limits import array_too_long, check_tool_schema
from gateway.providers.base import ResponseFormat, ToolCall, ToolSpec

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolChoice:
    """`mode` is none | auto | required; `name` is set when one function is named."""

    mode: str = "auto"
    name: str | None = None

    @property
    def forced(self) -> bool:
        return self.mode == "required" or self.name is not None


def _tool(raw: Any, param: str) -> ToolSpec:
    if not isinstance(raw, dict):
        raise invalid("Each tool must be an object.", param=param)
    function = raw.get("function") if "function" in raw else raw  # `functions` items are flat
    if "function" in raw and raw.get("type", "function") != "function":
        raise invalid("Only tools of type 'function' are supported.", param=f"{param}.type")
    if not isinstance(function, dict):
        raise invalid("A tool needs a 'function' object.", param=f"{param}.function")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid(
            "A function name must be 1-64 letters, digits, underscores or dashes.", param=f"{param}.function.name"
        )
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid("'parameters' must be a JSON Schema object.", param=f"{param}.function.parameters")
    if parameters:
        check_tool_schema(parameters, f"{param}.function.parameters")
    description = function.get("description") or ""
    if not isinstance(description, str):
        raise invalid("'description' must be a string.", param=f"{param}.function.description")
    return ToolSpec(name=name, description=description, parameters=parameters)


def parse_tools(data: dict[str, Any]) -> tuple[tuple[ToolSpec, ...], ToolChoice, bool]:
    """(tools, tool_choice, parallel_tool_calls) of a request body."""
    raw_tools, field = data.get("tools"), "tools"
    if raw_tools is None and data.get("functions") is not None:
        raw_tools, field = data["functions"], "functions"
    if raw_tools is None:
        raw_tools = []
    if not isinstance(raw_tools, list):
        raise invalid(f"'{field}' must be an array.", param=field)
    if len(raw_tools) > settings.GATEWAY_MAX_TOOLS:
        raise array_too_long(field, len(raw_tools), settings.GATEWAY_MAX_TOOLS, "GATEWAY_MAX_TOOLS")
    tools = tuple(_tool(raw, f"{field}[{index}]") for index, raw in enumerate(raw_tools))
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise invalid("Function names must be unique.", param=field)

    raw_choice, choice_field = data.get("tool_choice"), "tool_choice"
    if raw_choice is None and data.get("function_call") is not None:
        raw_choice, choice_field = data["function_call"], "function_call"
    choice = _choice(raw_choice, choice_field, names)

    parallel = data.get("parallel_tool_calls", True)
    if parallel is None:
        parallel = True
    if not isinstance(parallel, bool):
        raise invalid("'parallel_tool_calls' must be a boolean.", param="parallel_tool_calls")
    return tools, choice, parallel


def _choice(raw: Any, field: str, names: list[str]) -> ToolChoice:
    if raw is None:
        return ToolChoice("auto")
    if isinstance(raw, str):
        if raw not in {"none", "auto", "required"}:
            raise invalid(f"'{field}' must be none, auto, required or a named function.", param=field)
        if raw == "required" and not names:
            raise invalid("tool_choice 'required' needs at least one tool.", param=field)
        return ToolChoice(raw)
    if isinstance(raw, dict):
        function = raw.get("function") if "function" in raw else raw  # function_call is {"name"}
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            raise invalid(
                f'\'{field}\' must name a function: {{"type": "function", "function": {{"name": …}}}}.', param=field
            )
        if name not in names:
            raise invalid(f"'{field}' names '{name}', which is not among the tools.", param=field)
        return ToolChoice("required", name)
    raise invalid(f"'{field}' must be a string or an object.", param=field)


def parse_tool_calls(raw: Any, param: str) -> tuple[ToolCall, ...]:
    """An assistant message's `tool_calls` from the history."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("'tool_calls' must be an array.", param=param)
    calls = []
    for index, item in enumerate(raw):
        item_param = f"{param}[{index}]"
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid("Each tool call needs a function with a name.", param=item_param)
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):  # some clients send the object itself
            arguments = json.dumps(arguments)
        call_id = item.get("id")
        calls.append(
            ToolCall(id=call_id if isinstance(call_id, str) else "", name=function["name"], arguments=arguments)
        )
    return tuple(calls)


def parse_response_format(data: dict[str, Any]) -> ResponseFormat | None:
    raw = data.get("response_format")
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in {"text", "json_object", "json_schema"}:
        raise invalid("'response_format.type' must be text, json_object or json_schema.", param="response_format")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    spec = raw.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise invalid("'response_format.json_schema' needs a 'name'.", param="response_format.json_schema")
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise invalid("'response_format.json_schema.schema' must be an object.", param="response_format.json_schema")
    return ResponseFormat("json_schema", schema=schema or {"type": "object"}, name=spec["name"])
