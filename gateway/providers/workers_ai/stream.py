"""Workers AI's streamed answers as ChatDeltas: the upstream's event payloads translated.

Both event shapes are handled: classic `{"response": …}` events and OpenAI chat.completion.chunk
events (https://developers.cloudflare.com/workers-ai/features/streaming/). The provider wraps the
deltas in a DeltaStream (gateway/providers/delta_stream.py), which owns the upstream response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gateway.providers.base import ChatDelta, ProviderError, ToolCall
from gateway.providers.openai_shapes import new_call_id, tool_calls_of, usage_of
from gateway.providers.reasoning import ThinkSplitter
from gateway.providers.workers_ai.errors import error_from_event


def translate_stream(
    events: Iterator[str], starts_in_reasoning: bool, secrets_: tuple[str, ...] = ()
) -> Iterator[ChatDelta]:
    """Deltas from an upstream stream's event payloads (`secrets_` are redacted from errors)."""
    return _StreamTranslator(starts_in_reasoning, secrets_).deltas(events)


class _StreamTranslator:
    """Turns one stream's event payloads into deltas; both upstream event shapes are handled."""

    def __init__(self, starts_in_reasoning: bool, secrets_: tuple[str, ...]) -> None:
        self._text_splitter = ThinkSplitter(starts_in_reasoning)
        # OpenAI-shaped chunks carry reasoning in its own field: their content is only split off
        # a literal leading <think> block, as in results._parse_chat_completion.
        self._chunk_splitter = ThinkSplitter(starts_in_reasoning=False)
        self._secrets = secrets_
        self._tool_parts: dict[int, list[str]] = {}  # OpenAI chunk call fragments by index

    def deltas(self, events: Iterator[str]) -> Iterator[ChatDelta]:
        for data in events:
            delta = self._delta_of(data)
            if delta != _EMPTY:
                yield delta
        text_reasoning, text_content = self._text_splitter.finish()
        chunk_reasoning, chunk_content = self._chunk_splitter.finish()
        calls = tuple(
            ToolCall(id=call_id or new_call_id(), name=name, arguments=arguments)
            for call_id, name, arguments in (self._tool_parts[i] for i in sorted(self._tool_parts))
            if name
        )
        tail = ChatDelta(
            content=text_content + chunk_content, reasoning=text_reasoning + chunk_reasoning, tool_calls=calls
        )
        if tail != _EMPTY:
            yield tail

    def _delta_of(self, data: str) -> ChatDelta:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError("upstream", "Upstream error: an unreadable stream event.") from exc
        if not isinstance(event, dict):
            return _EMPTY
        if event.get("error") or event.get("errors"):
            raise error_from_event(event, self._secrets)
        if isinstance(event.get("choices"), list):
            return self._chunk_delta(event)
        # Classic event: {"response": "…", "p": padding, "tool_calls": [] noise, "usage"?}.
        text = event.get("response")
        reasoning, content = self._text_splitter.feed(text) if isinstance(text, str) else ("", "")
        return ChatDelta(
            content=content,
            reasoning=reasoning,
            tool_calls=tool_calls_of(event.get("tool_calls")),
            usage=usage_of(event.get("usage")),
        )

    def _chunk_delta(self, event: dict[str, Any]) -> ChatDelta:
        # A choice or delta that is not an object (malformed) is an empty one, as in results.py.
        first = event["choices"][0] if event["choices"] else {}
        choice = first if isinstance(first, dict) else {}
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        text = delta.get("content")
        reasoning, content = self._chunk_splitter.feed(text) if isinstance(text, str) else ("", "")
        separate = delta.get("reasoning_content")
        if isinstance(separate, str):
            reasoning = separate + reasoning
        for part in delta.get("tool_calls") or []:
            self._add_tool_part(part)
        finish = choice.get("finish_reason")
        return ChatDelta(
            content=content,
            reasoning=reasoning,
            usage=usage_of(event.get("usage")),
            finish_reason=finish if isinstance(finish, str) else None,
        )

    def _add_tool_part(self, part: Any) -> None:
        # OpenAI chunks send a call's id and name first, then argument fragments under the same
        # index; ChatDelta carries whole calls, so they are assembled and sent when the stream ends.
        if not isinstance(part, dict):
            return
        index = part.get("index")
        slot = self._tool_parts.setdefault(index if isinstance(index, int) else 0, ["", "", ""])
        function = part.get("function") if isinstance(part.get("function"), dict) else {}
        slot[0] = slot[0] or str(part.get("id") or "")
        slot[1] = slot[1] or str(function.get("name") or "")
        slot[2] += str(function.get("arguments") or "")


_EMPTY = ChatDelta()
