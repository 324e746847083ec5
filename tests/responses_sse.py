"""A strict reader of the Responses API's event stream, as OpenAI sends it
(https://platform.openai.com/docs/api-reference/responses-streaming).

Every event is `event: <type>` then `data: <json>` whose `type` is that name, numbered by
`sequence_number` from 0 without gaps; comments (`: ping`) are allowed between events and no
`[DONE]` ends the stream. Items open (output_item.added) before their parts and deltas and close
(output_item.done) before the next item opens; a message's annotations are added (numbered from
0) after its text deltas and before output_text.done, and its done part carries them all; a
file_search_call goes in_progress, searching, completed; the response starts with response.created then
response.in_progress and ends with exactly one of completed, incomplete or failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENDINGS = {"response.completed", "response.incomplete", "response.failed"}
# Events inside an item: which item type they belong to.
_ITEM_EVENTS = {
    "response.content_part.added": "message",
    "response.output_text.delta": "message",
    "response.output_text.done": "message",
    "response.content_part.done": "message",
    "response.reasoning_summary_part.added": "reasoning",
    "response.reasoning_summary_text.delta": "reasoning",
    "response.reasoning_summary_text.done": "reasoning",
    "response.reasoning_summary_part.done": "reasoning",
    "response.function_call_arguments.delta": "function_call",
    "response.function_call_arguments.done": "function_call",
    "response.output_text.annotation.added": "message",
    "response.file_search_call.in_progress": "file_search_call",
    "response.file_search_call.searching": "file_search_call",
    "response.file_search_call.completed": "file_search_call",
}
# Within an item, the order its events must follow (each stage at or after the one before).
_STAGES = {
    "message": [
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.annotation.added",
        "response.output_text.done",
        "response.content_part.done",
    ],
    "reasoning": [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ],
    "function_call": ["response.function_call_arguments.delta", "response.function_call_arguments.done"],
    "file_search_call": [
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
    ],
}


@dataclass
class ResponseStream:
    events: list[dict[str, Any]]
    comments: list[str]

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def last(self) -> dict[str, Any]:
        return self.events[-1]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]


def _frames(raw: str) -> tuple[list[tuple[str, str]], list[str]]:
    assert raw.endswith("\n\n"), f"the stream must end with a whole event: {raw[-80:]!r}"
    frames, comments = [], []
    for block in raw[:-2].split("\n\n"):
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            comments.extend(line[1:].strip() for line in lines)
            continue
        assert len(lines) == 2, f"an event is one event: line and one data: line: {block!r}"
        name, data = lines
        assert name.startswith("event: ") and data.startswith("data: "), block
        frames.append((name[len("event: ") :], data[len("data: ") :]))
    return frames, comments


def _check_items(events: list[dict[str, Any]]) -> None:
    open_item: dict[str, Any] | None = None
    stage = -1
    next_index = 0
    done: list[dict[str, Any]] = []
    for event in events:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert open_item is None, f"an item opened while {open_item} is open"
            assert event["output_index"] == next_index, event
            open_item, stage = event["item"], -1
            if open_item["type"] != "reasoning":
                assert open_item["status"] == "in_progress", open_item
            if open_item["type"] == "message":
                assert open_item["content"] == [], open_item
            if open_item["type"] == "function_call":
                assert open_item["arguments"] == "", open_item
        elif kind == "response.output_item.done":
            assert open_item is not None and event["item"]["id"] == open_item["id"], event
            assert event["output_index"] == next_index, event
            assert event["item"]["type"] == open_item["type"]
            stages = _STAGES[open_item["type"]]
            assert stage == len(stages) - 1, f"{open_item['type']} item done before {stages[-1]}"
            done.append(event["item"])
            open_item = None
            next_index += 1
        elif kind in _ITEM_EVENTS:
            assert open_item is not None and open_item["type"] == _ITEM_EVENTS[kind], f"{kind} outside its item"
            assert event["item_id"] == open_item["id"] and event["output_index"] == next_index, event
            position = _STAGES[open_item["type"]].index(kind)
            assert position >= stage, f"{kind} after {_STAGES[open_item['type']][stage]}"
            stage = position
            if kind == "response.output_text.annotation.added":
                annotations = open_item.setdefault("_annotations", [])
                assert event["annotation_index"] == len(annotations), event
                annotations.append(event["annotation"])
            if kind == "response.content_part.done":
                assert event["part"]["annotations"] == open_item.get("_annotations", []), event
        else:
            assert kind in {"response.created", "response.in_progress", *ENDINGS}, f"unexpected event {kind}"
            if kind in ENDINGS and kind != "response.failed":
                assert open_item is None, f"{kind} with {open_item} still open"
                assert event["response"]["output"] == done, "the final response's items are those streamed"


def parse_response_stream(raw: str) -> ResponseStream:
    """The events of a raw stream, once every rule above is checked."""
    frames, comments = _frames(raw)
    events = []
    for sequence, (name, data) in enumerate(frames):
        event = json.loads(data)
        assert event["type"] == name, f"event {name} carries data of type {event['type']}"
        assert event["sequence_number"] == sequence, f"event {sequence} numbered {event['sequence_number']}"
        events.append(event)
    types = [event["type"] for event in events]
    assert types[:2] == ["response.created", "response.in_progress"], types[:2]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert types[-1] in ENDINGS and sum(kind in ENDINGS for kind in types) == 1, types
    _check_items(events)
    return ResponseStream(events=events, comments=comments)
