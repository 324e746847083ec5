"""The body of POST /v1/responses, validated into a typed request that carries a chat request.

Field rules follow https://platform.openai.com/docs/api-reference/responses/create. The answer is
chat's (gateway/chat/service.py): `input` items and `instructions` become chat messages, flat
function tools become ToolSpecs, `text.format` a ResponseFormat, so routing by capability, demand,
limits, the response cache and fallbacks are exactly chat's. Built-in tools are refused (this
gateway runs none of them), except those a family registered as hosted tools (file_search:
gateway/responses/hosted_tools.py). `stream: true` streams the answer as events
(gateway/responses/stream.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.accounting.entry import Demand
from gateway.catalog.capabilities import Needs
from gateway.catalog.routes import RouteTarget
from gateway.chat.request import ChatCompletionRequest, ToolChoice
from gateway.errors import invalid
from gateway.http.request_fields import parse_integer, parse_model, parse_number, parse_reasoning_effort
from gateway.providers.base import ChatMessage, ResponseFormat, ToolSpec
from gateway.responses.hosted_tools import HostedRun, hosted
from gateway.responses.input_items import NAME, chat_messages, parse_input

_METADATA_PAIRS, _METADATA_KEY_CHARS, _METADATA_VALUE_CHARS = 16, 64, 512
MIN_OUTPUT_TOKENS = 16  # OpenAI's floor for max_output_tokens


@dataclass(frozen=True)
class HostedCacheKey:
    """What the response cache keys a request with hosted tools on: its chat request and the tools.
    Their answers depend on data that changes (a vector store's files), so they are cached only
    when the client opts in (X-Gateway-Cache: use), never for greedy sampling alone."""

    chat: ChatCompletionRequest
    hosted: tuple[dict[str, Any], ...]
    include: tuple[str, ...]
    deterministic: bool = False


@dataclass(frozen=True)
class ResponsesRequest:
    """What the client asked, as echoed in the response, and the chat request that answers it."""

    model: str
    chat: ChatCompletionRequest
    input_items: tuple[dict[str, Any], ...]  # normalised, with ids (GET …/input_items)
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] = "auto"
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    store: bool = True
    stream: bool = False
    truncation: str = "disabled"
    user: str | None = None
    hosted: tuple[dict[str, Any], ...] = ()  # hosted tools' definitions (file_search), in order
    include: tuple[str, ...] = ()

    @property
    def cache_request(self) -> ChatCompletionRequest | HostedCacheKey:
        """The cache keeps chat's answer to the chat request, so ids, store and metadata stay fresh."""
        if self.runs_hosted:
            return HostedCacheKey(self.chat, self.hosted, self.include)
        return self.chat

    @property
    def runs_hosted(self) -> bool:
        return bool(self.hosted) and self.tool_choice != "none"

    @property
    def query(self) -> str:
        """What hosted tools run on: the text of this request's last user message."""
        users = [message for message in self.chat.messages if message.role == "user"]
        return users[-1].content if users else ""

    def with_hosted(self, runs: Sequence[HostedRun]) -> ResponsesRequest:
        """The chat request with each hosted tool's turn after the input: the model answers from it."""
        turns = tuple(message for run in runs for message in run.messages)
        return replace(self, chat=replace(self.chat, messages=(*self.chat.messages, *turns)))

    def needs(self) -> Needs:
        return self.chat.needs()

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return self.chat.demand(targets)

    def with_history(self, history: Sequence[dict[str, Any]]) -> ResponsesRequest:
        """The request with a stored conversation's items before its own input (previous_response_id);
        the instructions stay first and are this request's alone, as OpenAI does."""
        earlier = chat_messages(history, "previous_response_id")
        messages = self.chat.messages
        head = messages[:1] if self.instructions is not None else ()
        return replace(self, chat=replace(self.chat, messages=(*head, *earlier, *messages[len(head) :])))


def _tools(data: dict[str, Any]) -> tuple[tuple[dict[str, Any], ...], tuple[ToolSpec, ...], tuple[dict[str, Any], ...]]:
    """(every tool as echoed, the function tools as chat's, the hosted tools' definitions)."""
    raw = data.get("tools")
    if raw is None:
        return (), (), ()
    if not isinstance(raw, list):
        raise invalid("'tools' must be an array.", param="tools")
    echoed, specs, hosted_tools = [], [], []
    for index, tool in enumerate(raw):
        param = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        runner = hosted(kind) if isinstance(kind, str) else None
        if runner is not None:
            if any(other["type"] == kind for other in hosted_tools):
                raise invalid(f"Only one {kind} tool may be given.", param=param)
            definition = runner.parse(tool, param)
            echoed.append(definition)
            hosted_tools.append(definition)
            continue
        if kind != "function":
            raise invalid(
                f"The tool type '{kind}' is not supported on this gateway: only function tools run here.",
                param=f"{param}.type",
                code="unsupported_tool",
            )
        name = tool.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise invalid("A function name must be 1-64 letters, digits, underscores or dashes.", param=f"{param}.name")
        description, parameters, strict = tool.get("description"), tool.get("parameters"), tool.get("strict", True)
        if description is not None and not isinstance(description, str):
            raise invalid("'description' must be a string.", param=f"{param}.description")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid("'parameters' must be a JSON Schema object.", param=f"{param}.parameters")
        if not isinstance(strict, bool):
            raise invalid("'strict' must be a boolean.", param=f"{param}.strict")
        echoed.append(
            {"type": "function", "name": name, "description": description, "parameters": parameters, "strict": strict}
        )
        specs.append(ToolSpec(name=name, description=description or "", parameters=parameters))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise invalid("Function names must be unique.", param="tools")
    return tuple(echoed), tuple(specs), tuple(hosted_tools)


def _tool_choice(
    data: dict[str, Any], names: list[str], hosted_kinds: list[str]
) -> tuple[str | dict[str, Any], ToolChoice]:
    """The choice as echoed, and chat's: a hosted tool always runs (unless "none"), so choosing it
    leaves chat's choice among the functions at auto."""
    raw = data.get("tool_choice")
    if raw is None:
        return "auto", ToolChoice("auto")
    if isinstance(raw, str) and raw in {"auto", "none", "required"}:
        if raw == "required" and not names and not hosted_kinds:
            raise invalid("tool_choice 'required' needs at least one tool.", param="tool_choice")
        if raw == "required" and not names:
            return raw, ToolChoice("auto")
        return raw, ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") in hosted_kinds:
        return {"type": raw["type"]}, ToolChoice("auto")
    if isinstance(raw, dict) and raw.get("type") == "function":
        name = raw.get("name")
        if name not in names:
            raise invalid(f"'tool_choice' names '{name}', which is not among the tools.", param="tool_choice")
        return {"type": "function", "name": name}, ToolChoice("required", name)
    raise invalid(
        '\'tool_choice\' must be auto, none, required or {"type": "function", "name": …}.', param="tool_choice"
    )


def _text_format(data: dict[str, Any]) -> tuple[dict[str, Any], ResponseFormat | None]:
    text = data.get("text")
    if text is None:
        return {"format": {"type": "text"}}, None
    if not isinstance(text, dict):
        raise invalid("'text' must be an object.", param="text")
    raw = text.get("format")
    if raw is None:
        return {"format": {"type": "text"}}, None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return {"format": {"type": "text"}}, None
    if kind == "json_object":
        return {"format": {"type": "json_object"}}, ResponseFormat("json_object")
    if kind != "json_schema":
        raise invalid("'text.format.type' must be text, json_object or json_schema.", param="text.format.type")
    name, schema = raw.get("name"), raw.get("schema")
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("A json_schema format needs a 'name' of 1-64 letters, digits, _ or -.", param="text.format.name")
    if not isinstance(schema, dict):
        raise invalid("A json_schema format needs a 'schema' object.", param="text.format.schema")
    strict = raw.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid("'strict' must be a boolean.", param="text.format.strict")
    echoed = {"type": "json_schema", "name": name, "schema": schema, "strict": strict}
    if isinstance(raw.get("description"), str):
        echoed["description"] = raw["description"]
    return {"format": echoed}, ResponseFormat("json_schema", schema=schema, name=name)


def _metadata(data: dict[str, Any]) -> dict[str, str] | None:
    raw = data.get("metadata")
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > _METADATA_PAIRS:
        raise invalid(f"'metadata' must be an object of at most {_METADATA_PAIRS} pairs.", param="metadata")
    for key, value in raw.items():
        if len(key) > _METADATA_KEY_CHARS or not isinstance(value, str) or len(value) > _METADATA_VALUE_CHARS:
            raise invalid(
                f"'metadata' keys have at most {_METADATA_KEY_CHARS} characters and its values are strings of "
                f"at most {_METADATA_VALUE_CHARS}.",
                param=f"metadata.{key}",
            )
    return raw


_KIND_NAMES = {str: "a string", bool: "a boolean", dict: "an object"}


def _optional(data: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise invalid(f"'{name}' must be {_KIND_NAMES[kind]}.", param=name)
    return value


def _refuse_unsupported(data: dict[str, Any]) -> None:
    """Fields whose silent loss would mislead the client."""
    if data.get("background"):
        raise invalid("Background responses are not supported on this gateway.", param="background")
    if data.get("conversation") is not None:
        raise invalid(
            "Conversations are not supported on this gateway: continue with previous_response_id.",
            param="conversation",
        )


def parse_responses_request(data: Any) -> ResponsesRequest:
    model = parse_model(data)
    _refuse_unsupported(data)
    if "input" not in data:
        raise invalid("You must provide 'input'.", param="input")
    items = parse_input(data["input"])
    instructions = _optional(data, "instructions", str)
    echoed_tools, specs, hosted_tools = _tools(data)
    echoed_choice, choice = _tool_choice(data, [spec.name for spec in specs], [tool["type"] for tool in hosted_tools])
    text, response_format = _text_format(data)
    reasoning = _optional(data, "reasoning", dict)
    effort = parse_reasoning_effort(reasoning.get("effort"), "reasoning.effort") if reasoning else None
    truncation = _optional(data, "truncation", str, "disabled")
    if truncation not in {"auto", "disabled"}:
        raise invalid("'truncation' must be auto or disabled.", param="truncation")
    max_output_tokens = parse_integer(data, "max_output_tokens", MIN_OUTPUT_TOKENS)
    previous = _optional(data, "previous_response_id", str)
    system = (ChatMessage(role="system", content=instructions),) if instructions is not None else ()
    chat = ChatCompletionRequest(
        model=model,
        messages=(*system, *chat_messages(items, "input")),
        max_tokens=max_output_tokens,
        temperature=parse_number(data, "temperature", 0, 2),
        top_p=parse_number(data, "top_p", 0, 1),
        tools=specs,
        tool_choice=choice,
        parallel_tool_calls=_optional(data, "parallel_tool_calls", bool, True),
        response_format=response_format,
        reasoning_effort=effort,
    )
    return ResponsesRequest(
        model=model,
        chat=chat,
        input_items=items,
        instructions=instructions,
        tools=echoed_tools,
        tool_choice=echoed_choice,
        text=text,
        max_output_tokens=max_output_tokens,
        parallel_tool_calls=chat.parallel_tool_calls,
        previous_response_id=previous or None,
        reasoning={"effort": reasoning.get("effort"), "summary": reasoning.get("summary")} if reasoning else None,
        metadata=_metadata(data),
        store=_optional(data, "store", bool, True),
        stream=_optional(data, "stream", bool, False),
        truncation=truncation,
        user=_optional(data, "user", str),
        hosted=hosted_tools,
        include=_include(data),
    )


def _include(data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("include")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise invalid("'include' must be an array of strings.", param="include")
    return tuple(raw)
