"""An OpenAI-compatible event stream as ChatDeltas: chat.completion.chunk and text_completion events.

Chunk shapes: https://platform.openai.com/docs/api-reference/chat-streaming. Tool calls arrive as
fragments under an `index` (id, type and name in the first, argument pieces after); the gateway's
chat service writes each ChatDelta tool call as one whole call (gateway/chat/service.py), so the
fragments are assembled here and the calls go out once the upstream says the choice is finished
(its finish_reason) or the stream ends. The provider wraps the translated deltas in a DeltaStream
(gateway/providers/delta_stream.py), which owns the upstream response and its close() from any
thread and names this upstream in transport errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.providers.base import ChatDelta, ProviderError, ToolCall
from gateway.providers.openai_compatible.errors import error_from_event
from gateway.providers.openai_compatible.results import kept_finish_reason, reasoning_of, text_of
from gateway.providers.openai_shapes import new_call_id, usage_of
from gateway.providers.reasoning import ThinkSplitter

_EMPTY = ChatDelta()


def translate_chunks(
    events: Iterator[str], starts_in_reasoning: bool, secrets_: tuple[str, ...]
) -> Iterator[ChatDelta]:
    """Deltas from a stream's event payloads (`secrets_` are redacted from error messages)."""
    translator = _ChunkTranslator(starts_in_reasoning, secrets_)
    for data in events:
        delta = translator.delta_of(data)
        if delta != _EMPTY:
            yield delta
    tail = translator.finish()
    if tail != _EMPTY:
        yield tail


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class _ChunkTranslator:
    def __init__(self, starts_in_reasoning: bool, secrets_: tuple[str, ...]) -> None:
        self._starts_in_reasoning = starts_in_reasoning
        self._secrets = secrets_
        self._splitter: ThinkSplitter | None = None  # made at the first content piece
        self._saw_separate_reasoning = False
        self._calls: dict[int, _PartialCall] = {}

    def delta_of(self, data: str) -> ChatDelta:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError("upstream", "Upstream error: an unreadable stream event.") from exc
        if not isinstance(event, dict):
            return _EMPTY
        if event.get("error") or event.get("errors"):
            raise error_from_event(event, self._secrets)
        usage = usage_of(event.get("usage"))
        choices = event.get("choices")
        # The usage chunk of stream_options.include_usage has `choices: []`.
        choice = _first(choices) if isinstance(choices, list) else None
        if choice is None:
            return ChatDelta(usage=usage)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        separate = reasoning_of(delta)
        self._saw_separate_reasoning |= bool(separate)
        # Chat chunks carry delta.content; text_completion chunks carry the choice's text.
        piece = text_of(delta.get("content")) if "delta" in choice else text_of(choice.get("text"))
        tagged, content = self._split(piece) if piece else ("", "")
        for fragment in delta.get("tool_calls") or []:
            self._add_fragment(fragment)
        finish = choice.get("finish_reason")
        calls = self._take_calls() if isinstance(finish, str) and finish else ()
        return ChatDelta(
            content=content,
            reasoning=separate + tagged,
            tool_calls=calls,
            usage=usage,
            finish_reason=kept_finish_reason(finish),
        )

    def finish(self) -> ChatDelta:
        """The stream ended: what the splitter held back, and calls no finish_reason released."""
        reasoning, content = self._splitter.finish() if self._splitter is not None else ("", "")
        return ChatDelta(content=content, reasoning=reasoning, tool_calls=self._take_calls())

    def _split(self, piece: str) -> tuple[str, str]:
        if self._splitter is None:
            # A server that streams reasoning in its own field has already cut the <think> block
            # out of the content: then only a literal leading block is split (see results.py).
            starts = self._starts_in_reasoning and not self._saw_separate_reasoning
            self._splitter = ThinkSplitter(starts_in_reasoning=starts)
        return self._splitter.feed(piece)

    def _add_fragment(self, fragment: Any) -> None:
        if not isinstance(fragment, dict):
            return
        function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
        index = fragment.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # Servers that omit `index` send each call whole, or its id first: a new id is a new call.
            last = max(self._calls, default=-1)
            fresh = fragment.get("id") and (last < 0 or self._calls[last].id != fragment.get("id"))
            index = last + 1 if fresh or last < 0 else last
        call = self._calls.setdefault(index, _PartialCall())
        call.id = call.id or str(fragment.get("id") or "")
        call.name = call.name or str(function.get("name") or "")
        arguments = function.get("arguments")
        call.arguments += arguments if isinstance(arguments, str) else json.dumps(arguments) if arguments else ""

    def _take_calls(self) -> tuple[ToolCall, ...]:
        calls = tuple(
            ToolCall(id=call.id or new_call_id(), name=call.name, arguments=call.arguments or "{}")
            for _, call in sorted(self._calls.items())
            if call.name
        )
        self._calls.clear()
        return calls


def _first(choices: list[Any]) -> dict[str, Any] | None:
    dicts = [c for c in choices if isinstance(c, dict)]
    labelled = [c for c in dicts if c.get("index") == 0]
    return (labelled or dicts or [None])[0]
