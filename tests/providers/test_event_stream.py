from __future__ import annotations

import itertools
import json

import pytest

from gateway.providers.event_stream import EventStreamParser, iter_event_data

# Shaped like the upstream's stream (https://developers.cloudflare.com/workers-ai/features/streaming/):
# padding, an empty tool_calls array, a final usage event, then [DONE].
UPSTREAM_BODY = (
    'data: {"response":"Grüße","p":"abdfe"}\n\n'
    'data: {"response":" 東京 🌸","tool_calls":[],"p":"xyz"}\n\n'
    'data: {"response":"","usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\n'
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    '{"response":"Grüße","p":"abdfe"}',
    '{"response":" 東京 🌸","tool_calls":[],"p":"xyz"}',
    '{"response":"","usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}',
]


def _chunks_at(body: bytes, *cuts: int) -> list[bytes]:
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def test_it_yields_each_event_payload_and_stops_at_done() -> None:
    assert list(iter_event_data([UPSTREAM_BODY])) == EXPECTED


def test_it_survives_a_split_at_every_byte_position() -> None:
    for cut in range(1, len(UPSTREAM_BODY)):
        events = list(iter_event_data(_chunks_at(UPSTREAM_BODY, cut)))
        assert events == EXPECTED, f"split at byte {cut}"


def test_it_survives_one_byte_chunks() -> None:
    chunks = [UPSTREAM_BODY[i : i + 1] for i in range(len(UPSTREAM_BODY))]
    assert list(iter_event_data(chunks)) == EXPECTED


def test_it_keeps_multibyte_characters_split_across_chunks_intact() -> None:
    body = 'data: {"response":"🌸é東"}\n\n'.encode()
    flower = body.index("🌸".encode())
    # Cut inside the 4-byte flower and inside the 3-byte kanji at once.
    kanji = body.index("東".encode())
    events = list(iter_event_data(_chunks_at(body, flower + 1, flower + 3, kanji + 2)))
    assert [json.loads(e)["response"] for e in events] == ["🌸é東"]


def test_it_accepts_crlf_separators_split_anywhere() -> None:
    body = UPSTREAM_BODY.replace(b"\n", b"\r\n")
    for cut in range(1, len(body)):
        assert list(iter_event_data(_chunks_at(body, cut))) == EXPECTED, f"split at byte {cut}"


def test_it_accepts_lone_cr_line_endings() -> None:
    body = b"data: one\r\rdata: two\r\r"
    assert list(iter_event_data([body])) == ["one", "two"]


def test_it_skips_comments_and_unknown_fields() -> None:
    body = b": ping\n\nevent: message\nid: 7\nretry: 100\n: keep-alive\ndata: hello\n\n"
    assert list(iter_event_data([body])) == ["hello"]


def test_it_joins_multi_line_data_with_newlines() -> None:
    body = b'data: {"a":\ndata:  1}\ndata:\n\n'
    # One space after the colon is dropped, a second one is data; an empty data line adds "\n".
    assert list(iter_event_data([body])) == ['{"a":\n 1}\n']


def test_it_does_not_yield_done_or_what_follows_it() -> None:
    body = b"data: first\n\ndata: [DONE]\n\ndata: after\n\n"
    assert list(iter_event_data([body])) == ["first"]


def test_it_keeps_a_last_event_that_lacks_its_blank_line() -> None:
    assert list(iter_event_data([b"data: last\n"])) == ["last"]


def test_it_drops_a_truncated_last_line() -> None:
    assert list(iter_event_data([b'data: whole\n\ndata: {"resp'])) == ["whole"]


def test_it_ignores_a_leading_byte_order_mark() -> None:
    assert list(iter_event_data(["\ufeffdata: x\n\n".encode()])) == ["x"]


@pytest.mark.parametrize("empty", [b"", b"\n\n\n", b": only a comment\n\n"])
def test_it_yields_nothing_for_bodies_without_events(empty: bytes) -> None:
    assert list(iter_event_data([empty])) == []


def test_parser_returns_events_as_soon_as_their_blank_line_arrives() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n") == ["a"]
    assert parser.finish() == []
