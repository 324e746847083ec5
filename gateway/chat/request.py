"""The body of POST /v1/chat/completions, validated into a typed request.

Field rules follow https://platform.openai.com/docs/api-reference/chat/create. Fields the gateway
accepts but cannot honour upstream (user, metadata, store, logit_bias, service_tier, …) are accepted
and ignored, as OpenAI-compatible servers commonly do; unknown fields are ignored too, so newer SDKs
keep working. Fields whose silent loss would change the answer are refused with a 400. Tools and
response_format are parsed in gateway/chat/tool_request.py, content parts (images checked, not
yet fetched) in gateway/chat/content_parts.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_prompt_tokens
from gateway.catalog.capabilities import Needs
from gateway.catalog.routes import RouteTarget, completion_bound
from gateway.chat.content_parts import parse_content
from gateway.chat.tool_request import ToolChoice, parse_response_format, parse_tool_calls, parse_tools
from gateway.errors import invalid
from gateway.http.request_fields import (
    parse_integer,
    parse_model,
    parse_reasoning_effort,
    parse_sampling,
    parse_streaming,
)
from gateway.providers.base import ChatMessage, ResponseFormat, ToolSpec

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass(frozen=True)
class ChatCompletionRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None  # for routes that reason; the others ignore it

    @property
    def deterministic(self) -> bool:
        """Worth caching (gateway/cache/responses.py): greedy sampling, or a fixed seed."""
        return self.temperature == 0 or self.seed is not None

    @cached_property
    def prompt_estimate(self) -> int:
        """Text only (gateway/accounting/tokens.py): images are fetched after admission, so routing
        and the admitted demand cannot depend on them. Computed once per request."""
        return estimate_prompt_tokens(self.messages)

    def needs(self) -> Needs:
        """What a route must offer to serve this request (gateway/catalog/capabilities.py)."""
        uses_tools = bool(self.tools) and self.tool_choice.mode != "none"
        forced = uses_tools and self.tool_choice.forced
        return Needs(
            tools=uses_tools and not forced,  # forced calls go through JSON mode (tool_plan.py)
            vision=any(message.images for message in self.messages),
            json_mode=forced or self.response_format is not None,
            json_mode_param="tool_choice" if forced else "response_format",
            prompt_tokens=self.prompt_estimate,
        )

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        prompt = self.prompt_estimate
        return Demand(
            prompt_tokens=prompt,
            completion_requested=self.n * self.max_tokens if self.max_tokens else 0,
            completion_bound=self.n * completion_bound(targets, self.max_tokens, prompt),
        )


def parse_message(raw: Any, param: str) -> ChatMessage:
    """One chat message; `param` names it in errors (`messages[2]`, or another family's field)."""
    if not isinstance(raw, dict):
        raise invalid("Each message must be an object.", param=param)
    role = raw.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise invalid(
            f"'{role}' is not a valid role: use system, developer, user, assistant or tool.",
            param=f"{param}.role",
        )
    content = raw.get("content")
    if content is None and role not in {"assistant", "function"}:
        raise invalid(f"A {role} message needs 'content'.", param=f"{param}.content")
    tool_calls = parse_tool_calls(raw.get("tool_calls"), f"{param}.tool_calls") if role == "assistant" else ()
    if role == "tool" and not isinstance(raw.get("tool_call_id"), str):
        raise invalid("A tool message needs 'tool_call_id'.", param=f"{param}.tool_call_id")
    name = raw.get("name")
    parts = parse_content(content, f"{param}.content", allow_images=role == "user")
    return ChatMessage(
        role="system" if role == "developer" else ("tool" if role == "function" else role),
        content=parts.text,
        images=parts.images,
        tool_calls=tool_calls,
        name=name if isinstance(name, str) else None,
        tool_call_id=raw.get("tool_call_id") if role == "tool" else None,
    )


def _check_image_count(raw_messages: list[Any]) -> None:
    """Before any image is checked: each http(s) image will cost a fetch while the request waits."""
    count = sum(
        1
        for message in raw_messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )
    if count > settings.GATEWAY_MAX_IMAGES_PER_REQUEST:
        raise invalid(
            f"A request may carry at most {settings.GATEWAY_MAX_IMAGES_PER_REQUEST} images; this one has {count}.",
            param="messages",
            code="too_many_images",
        )


def _refuse_unsupported(data: dict[str, Any]) -> None:
    if data.get("logprobs"):
        raise invalid("logprobs are not available from this gateway's upstream.", param="logprobs")


def parse_chat_request(data: Any) -> ChatCompletionRequest:
    model = parse_model(data)
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise invalid("'messages' must be a non-empty array.", param="messages")
    _refuse_unsupported(data)
    _check_image_count(raw_messages)

    stream, include_usage = parse_streaming(data)
    n = parse_integer(data, "n", 1, 128) or 1
    if n > settings.GATEWAY_MAX_N:
        raise invalid(f"'n' may be at most {settings.GATEWAY_MAX_N} on this gateway.", param="n")
    if n > 1 and stream:
        raise invalid("'n' greater than 1 is not supported with stream=true.", param="n")
    tools, tool_choice, parallel_tool_calls = parse_tools(data)
    max_tokens = parse_integer(data, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = parse_integer(data, "max_tokens", 1)

    return ChatCompletionRequest(
        model=model,
        messages=tuple(parse_message(raw, f"messages[{index}]") for index, raw in enumerate(raw_messages)),
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        n=n,
        **parse_sampling(data),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel_tool_calls,
        response_format=parse_response_format(data),
        reasoning_effort=parse_reasoning_effort(data.get("reasoning_effort"), "reasoning_effort"),
    )
