"""Incremental parser for an upstream text/event-stream body.

The upstream streams `data: {json}` events separated by blank lines and ends with `data: [DONE]`
(https://developers.cloudflare.com/workers-ai/features/streaming/). Network chunks split anywhere:
inside a line, inside a separator, even inside a multibyte UTF-8 character, so the bytes go
through an incremental decoder and lines are cut only once their terminator has arrived.

Line handling follows the WHATWG server-sent events rules: a line ends with CRLF, LF or a lone CR;
a blank line dispatches the event; `data` lines of one event join with "\n"; lines starting with
":" are comments (keep-alives); one space after the colon is dropped; other fields (event, id,
retry) carry nothing the gateway needs and are ignored.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

DONE = "[DONE]"


class EventStreamParser:
    """Feed raw byte chunks, get the data payload of each complete event."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""  # decoded text whose line terminator has not arrived yet
        self._pending_cr = False  # a chunk ended in "\r": the next may start with its "\n"
        self._data_lines: list[str] = []
        self._first_chunk = True

    def feed(self, chunk: bytes) -> list[str]:
        text = self._decoder.decode(chunk)
        if self._first_chunk and text:
            # The SSE rules allow one byte-order mark at the start of the stream.
            text = text.removeprefix("\ufeff")
            self._first_chunk = False
        return self._consume(text)

    def finish(self) -> list[str]:
        """The body ended: flush the decoder and dispatch an event left without its blank line.

        The SSE rules would discard such an event; an upstream that closes right after its last
        `data:` line still meant it, so it is kept when at least its line was complete.
        """
        events = self._consume(self._decoder.decode(b"", final=True))
        if self._pending_cr:
            # A CR at the very end terminates the line in the buffer.
            self._pending_cr = False
            events.extend(self._take_line(self._buffer))
        self._buffer = ""  # an unterminated last line is a truncated body: drop it
        if self._data_lines:
            events.append("\n".join(self._data_lines))
            self._data_lines = []
        return events

    def _consume(self, text: str) -> list[str]:
        if self._pending_cr:
            text = "\r" + text
            self._pending_cr = False
        if text.endswith("\r"):
            # Hold a trailing CR back: it may be the first half of a CRLF split across chunks.
            text = text[:-1]
            self._pending_cr = True
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._buffer += text
            return []
        lines = (self._buffer + text).split("\n")
        self._buffer = lines.pop()
        events: list[str] = []
        for line in lines:
            events.extend(self._take_line(line))
        return events

    def _take_line(self, line: str) -> list[str]:
        if not line:
            if not self._data_lines:
                return []
            data = "\n".join(self._data_lines)
            self._data_lines = []
            return [data]
        if line.startswith(":"):
            return []
        field, _, value = line.partition(":")
        if field == "data":
            self._data_lines.append(value.removeprefix(" "))
        return []


def iter_event_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yield each event's data payload; stop at `[DONE]`, which is not yielded."""
    parser = EventStreamParser()
    for chunk in chunks:
        for data in parser.feed(chunk):
            if data == DONE:
                return
            yield data
    for data in parser.finish():
        if data == DONE:
            return
        yield data
