"""A response as OpenAI streams it: named events, numbered from 0, built from chat's deltas.

https://platform.openai.com/docs/api-reference/responses-streaming: response.created and
response.in_progress first; then each output item opens (response.output_item.added), streams and
closes (response.output_item.done) — a reasoning item through its summary part, the message
through its output_text part, each function call through its arguments — and the response ends
with response.completed, response.incomplete (cut at max_output_tokens) or response.failed. The
SDK's `responses.stream()` checks that every delta follows its item's added event and that the
final response's items keep the ids they were streamed with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError
from gateway.providers.base import ToolCall, Usage
from gateway.responses.input_items import new_item_id
from gateway.responses.render import function_call_item, message_item, reasoning_item, response_object
from gateway.responses.request import ResponsesRequest
from gateway.streams import sse

_ARGUMENT_FRAGMENTS = 3  # a whole call's arguments in a few deltas, as an upstream would send them


@dataclass
class _OpenItem:
    kind: str  # "reasoning" or "message"
    id: str
    index: int
    text: str = ""


@dataclass
class ResponseEvents:
    """The events of one streamed response, in order; `output` holds the items closed so far."""

    body: ResponsesRequest
    id: str = field(default_factory=lambda: new_item_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    output: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)  # the hosted tools' citations
    _sequence: int = 0
    _open: _OpenItem | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        frame = sse.named_event({"type": kind, "sequence_number": self._sequence, **fields})
        self._sequence += 1
        return frame

    def response(self, status: str, usage: Usage | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
        return response_object(
            self.body,
            response_id=self.id,
            created_at=self.created_at,
            status=status,
            output=list(self.output),
            usage=usage,
            error=error,
        )

    def start(self) -> list[bytes]:
        return [
            self._event("response.created", response=self.response("in_progress")),
            self._event("response.in_progress", response=self.response("in_progress")),
        ]

    @property
    def answered(self) -> bool:
        """A message or a function call is out (or open)."""
        return any(item["type"] in {"message", "function_call"} for item in self.output) or (
            self._open is not None and self._open.kind == "message"
        )

    def _opened(self, kind: str) -> list[bytes]:
        """The item of this kind open for more text: the one open, or a new one after closing it."""
        if self._open is not None and self._open.kind == kind:
            return []
        frames = self.close_item(status="completed")
        item = _OpenItem(kind, new_item_id("rs" if kind == "reasoning" else "msg"), len(self.output))
        self._open = item
        where = {"item_id": item.id, "output_index": item.index}
        if kind == "reasoning":
            added = {"type": "reasoning", "id": item.id, "summary": []}
            frames.append(self._event("response.output_item.added", output_index=item.index, item=added))
            part = {"type": "summary_text", "text": ""}
            frames.append(self._event("response.reasoning_summary_part.added", **where, summary_index=0, part=part))
        else:
            added = message_item(item.id, None, "in_progress")
            frames.append(self._event("response.output_item.added", output_index=item.index, item=added))
            part = {"type": "output_text", "text": "", "annotations": []}
            frames.append(self._event("response.content_part.added", **where, content_index=0, part=part))
        return frames

    def reasoning(self, delta: str) -> list[bytes]:
        frames = self._opened("reasoning")
        assert self._open is not None
        self._open.text += delta
        where = {"item_id": self._open.id, "output_index": self._open.index}
        frames.append(self._event("response.reasoning_summary_text.delta", **where, summary_index=0, delta=delta))
        return frames

    def text(self, delta: str) -> list[bytes]:
        frames = self._opened("message")
        assert self._open is not None
        self._open.text += delta
        where = {"item_id": self._open.id, "output_index": self._open.index}
        frames.append(self._event("response.output_text.delta", **where, content_index=0, delta=delta, logprobs=[]))
        return frames

    def close_item(self, *, status: str) -> list[bytes]:
        """The open reasoning or message item's closing events; `status` is the message's."""
        item, self._open = self._open, None
        if item is None:
            return []
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "reasoning":
            part = {"type": "summary_text", "text": item.text}
            done = reasoning_item(item.id, item.text)
            frames = [
                self._event("response.reasoning_summary_text.done", **where, summary_index=0, text=item.text),
                self._event("response.reasoning_summary_part.done", **where, summary_index=0, part=part),
            ]
        else:
            done = message_item(item.id, item.text, status, self.annotations)
            part = done["content"][0]
            frames = [
                self._event(
                    "response.output_text.annotation.added", **where, content_index=0, annotation_index=n, annotation=a
                )
                for n, a in enumerate(part["annotations"])
            ]
            frames += [
                self._event("response.output_text.done", **where, content_index=0, text=item.text, logprobs=[]),
                self._event("response.content_part.done", **where, content_index=0, part=part),
            ]
        self.output.append(done)
        frames.append(self._event("response.output_item.done", output_index=item.index, item=done))
        return frames

    def hosted(self, item: dict[str, Any]) -> list[bytes]:
        """A hosted tool's run (already done) as OpenAI streams one: added in progress, its
        in_progress, searching and completed events, done."""
        index, kind = len(self.output), item["type"]
        where = {"item_id": item["id"], "output_index": index}
        opened = {**item, "status": "in_progress", **({"results": None} if "results" in item else {})}
        frames = [self._event("response.output_item.added", output_index=index, item=opened)]
        frames += [
            self._event(f"response.{kind}.{step}", **where) for step in ("in_progress", "searching", "completed")
        ]
        self.output.append(item)
        frames.append(self._event("response.output_item.done", output_index=index, item=item))
        return frames

    def function_call(self, call: ToolCall) -> list[bytes]:
        """A whole call as one item: added with empty arguments, its arguments in a few deltas, done."""
        frames = self.close_item(status="completed")
        item_id, index = new_item_id("fc"), len(self.output)
        where = {"item_id": item_id, "output_index": index}
        added = function_call_item(item_id, call, "", "in_progress")
        frames.append(self._event("response.output_item.added", output_index=index, item=added))
        step = max(1, -(-len(call.arguments) // _ARGUMENT_FRAGMENTS))
        for start in range(0, len(call.arguments), step):
            fragment = call.arguments[start : start + step]
            frames.append(self._event("response.function_call_arguments.delta", **where, delta=fragment))
        frames.append(self._event("response.function_call_arguments.done", **where, arguments=call.arguments))
        done = function_call_item(item_id, call, call.arguments, "completed")
        self.output.append(done)
        frames.append(self._event("response.output_item.done", output_index=index, item=done))
        return frames

    def end(self, usage: Usage, *, incomplete: bool) -> tuple[dict[str, Any], list[bytes]]:
        """The final response and its closing events: the open item closed (and an empty message
        when nothing was said nor called, as the non-streamed response has), then completed or
        incomplete."""
        status = "incomplete" if incomplete else "completed"
        frames = [] if self.answered else self._opened("message")
        frames += self.close_item(status=status)
        response = self.response(status, usage)
        frames.append(self._event(f"response.{status}", response=response))
        return response, frames

    def failed(self, error: GatewayError) -> bytes:
        """response.failed, the response carrying the error; the items closed so far stay in it."""
        self._open = None
        failure = {"code": error.code or "server_error", "message": error.message}
        return self._event("response.failed", response=self.response("failed", error=failure))
