"""What a chat request's tools and response_format ask of one route, and how the answer maps back.

Workers AI takes `tools` natively on function-calling models but has no `tool_choice`
(https://developers.cloudflare.com/workers-ai/features/function-calling/). So:
- tool_choice "none" (or no tools): no tools are sent.
- "auto": tools go to the upstream as they are; only routes with native tool support are used
  (a name without one refuses them with a 400 rather than drop them silently).
- "required" or a named function: forced through JSON mode. The upstream is asked for a JSON
  object constrained by a schema (the named function's parameters; for "required" with several
  tools, `{"name", "arguments"}` with the names enumerated), with a system instruction describing
  the functions, and the object it returns becomes that tool call. Only routes with JSON mode serve it.
- response_format json_object / json_schema goes to the upstream's JSON mode (likewise).
JSON mode does not stream upstream, so such requests are fetched whole and replayed as chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from gateway.chat.request import ChatCompletionRequest
from gateway.errors import GatewayError
from gateway.providers.base import ChatMessage, ChatResult, ResponseFormat, ToolCall, ToolSpec
from gateway.providers.openai_shapes import new_call_id


@dataclass(frozen=True)
class ToolPlan:
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()  # sent natively
    response_format: ResponseFormat | None = None  # sent upstream
    forced: tuple[ToolSpec, ...] = ()  # the reply's JSON object becomes a call of one of these
    single_call: bool = False  # parallel_tool_calls false: at most one call

    @property
    def streams_natively(self) -> bool:
        return self.response_format is None


def plan_for(body: ChatCompletionRequest) -> ToolPlan:
    """The plan for any route of the request: routing (ChatCompletionRequest.needs,
    gateway/catalog/capabilities.py) already kept only routes with the tools or JSON mode it uses."""
    choice = body.tool_choice
    single = not body.parallel_tool_calls
    if not body.tools or choice.mode == "none":
        return ToolPlan(body.messages, response_format=body.response_format)
    if choice.forced:
        candidates = tuple(t for t in body.tools if t.name == choice.name) if choice.name else body.tools
        fmt, instruction = _forcing(candidates)
        return ToolPlan(_with_instruction(body.messages, instruction), response_format=fmt, forced=candidates)
    return ToolPlan(body.messages, tools=body.tools, response_format=body.response_format, single_call=single)


def _describe(tool: ToolSpec) -> str:
    schema = json.dumps(tool.parameters or {"type": "object"}, separators=(",", ":"))
    description = f": {tool.description}" if tool.description else ""
    return f"- `{tool.name}`{description}. Parameters (JSON Schema): {schema}"


def _forcing(candidates: tuple[ToolSpec, ...]) -> tuple[ResponseFormat, str]:
    if len(candidates) == 1:
        tool = candidates[0]
        instruction = (
            f"Call the function `{tool.name}`. Reply with only the JSON object of its arguments.\n{_describe(tool)}"
        )
        return ResponseFormat("json_schema", tool.parameters or {"type": "object"}, tool.name), instruction
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [tool.name for tool in candidates]},
            "arguments": {"type": "object"},
        },
        "required": ["name", "arguments"],
    }
    instruction = (
        'Call exactly one of these functions. Reply with only a JSON object {"name": <function name>, '
        '"arguments": {<its arguments>}}.\n' + "\n".join(_describe(tool) for tool in candidates)
    )
    return ResponseFormat("json_schema", schema, "function_call"), instruction


def _with_instruction(messages: tuple[ChatMessage, ...], instruction: str) -> tuple[ChatMessage, ...]:
    # Merged into a leading system message: several chat templates keep only the first one.
    if messages and messages[0].role == "system":
        first = replace(messages[0], content=f"{messages[0].content}\n\n{instruction}")
        return (first, *messages[1:])
    return (ChatMessage(role="system", content=instruction), *messages)


def apply_plan(result: ChatResult, plan: ToolPlan) -> ChatResult:
    """The upstream's answer as the client asked for it: forced JSON → a tool call; one call at most."""
    if plan.forced:
        return replace(result, content="", tool_calls=(_forced_call(result.content, plan.forced),))
    calls = tuple(replace(call, id=call.id or new_call_id()) for call in result.tool_calls)
    if plan.single_call:
        calls = calls[:1]
    return replace(result, tool_calls=calls)


def _forced_call(text: str, candidates: tuple[ToolSpec, ...]) -> ToolCall:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and len(candidates) == 1:
        return ToolCall(new_call_id(), candidates[0].name, json.dumps(value))
    names = {tool.name for tool in candidates}
    if isinstance(value, dict) and value.get("name") in names and isinstance(value.get("arguments"), dict):
        return ToolCall(new_call_id(), value["name"], json.dumps(value["arguments"]))
    raise GatewayError(
        502,
        "The upstream model did not answer with a valid function call; try again or use tool_choice 'auto'.",
        type="upstream_error",
        code="tool_call_failed",
    )
