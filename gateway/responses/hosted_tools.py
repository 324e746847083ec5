"""Hosted tools of /v1/responses: tools the gateway runs itself before the model answers.

OpenAI runs tools such as file_search on its side and shows each run as an output item before the
message. Here a family above the core registers such a tool by its `type` (rag registers
`file_search` when its app is ready, rag/apps.py), so the Responses family needs no knowledge of
vector stores. A tool validates its definition in the request (`parse`) and, when the request is
answered, runs (`run`): it returns the output item, the turn the model reads (an assistant tool
call and its tool result, as if the model had called it), and the annotations for the answer's
text. Each runs once per request, on the last user message's text, unless tool_choice is "none".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.accounting.entry import UsageEntry
from gateway.providers.base import ChatMessage


@dataclass(frozen=True)
class HostedRun:
    item: dict[str, Any]  # the output item, completed (file_search_call …)
    messages: tuple[ChatMessage, ...]  # what the model reads before answering
    annotations: tuple[dict[str, Any], ...] = field(default=())  # on the answer's output_text


class HostedTool(Protocol):
    def parse(self, tool: dict[str, Any], param: str) -> dict[str, Any]:
        """The tool's definition, validated and as the response echoes it (a 400 otherwise)."""
        ...

    def run(self, tool: dict[str, Any], query: str, *, include: Sequence[str], entry: UsageEntry) -> HostedRun:
        """Run it for `query` on behalf of entry.principal; GatewayError when it cannot."""
        ...


_TOOLS: dict[str, HostedTool] = {}


def register(kind: str, tool: HostedTool) -> None:
    _TOOLS[kind] = tool


def hosted(kind: str) -> HostedTool | None:
    return _TOOLS.get(kind)


def run_all(
    tools: Sequence[dict[str, Any]], query: str, *, include: Sequence[str], entry: UsageEntry
) -> tuple[HostedRun, ...]:
    """Every hosted tool of the request, in order (none without a query to run on)."""
    if not query.strip():
        return ()
    return tuple(_TOOLS[tool["type"]].run(tool, query, include=include, entry=entry) for tool in tools)
