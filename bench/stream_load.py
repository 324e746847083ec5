"""Stream load generator in a process of its own: `python -m bench.stream_load '<json arguments>'`.

bench/compare.py runs it as a subprocess for each stream row, so that the client side of 1,000
concurrent streams has an interpreter to itself. It speaks HTTP/1.1 on plain asyncio (one
asyncio.Protocol per connection, no HTTP library): it writes each POST with a Content-Length,
parses the status line and headers, and reads a chunked, Content-Length or until-close body,
keeping only its last bytes. Each of `clients` loops opens one stream after another on its
connection (reconnecting when the server did not keep it alive) until `seconds` have passed since
the start; streams under way then are finished and counted, unless they are still unfinished
`drain` seconds later (an overloaded target): those are cut and counted as errors, so that a row
ends in bounded time. Client starts are spread over `ramp` seconds so that 1,000 clients do not all
connect in the same millisecond.

Per stream it records the time to the first body byte and the whole stream's duration; a stream is
an error when the status is not 200, the connection fails or times out, or the body does not end
with the `data: [DONE]` frame, or is cut at the drain limit. Arguments (a JSON object): url, body
(object), key, clients, seconds, ramp (default 0), drain (default 30), timeout (per stream, default
120). Printed (a JSON object on stdout): streams, errors, unfinished (of the errors), elapsed,
streams_per_s, first_byte_ms and duration_ms (p50, p99), cpu_seconds (this process), first_error.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TAIL = 64  # bytes of the body kept: enough to see the final `data: [DONE]` frame
DONE = b"data: [DONE]"


@dataclass
class Outcome:
    status: int = 0
    first_byte: float | None = None  # perf_counter() at the first body byte
    tail: bytes = b""
    keep_alive: bool = True


class _Client(asyncio.Protocol):
    """One connection: one request at a time, its response parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Outcome] | None = None
        self.outcome = Outcome()
        self.state = "closed"  # head, length, chunk-size, chunk-data, chunk-end, trailer, until-close
        self.remaining = 0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            if self.state == "until-close":
                self._done()
            else:
                self.waiter.set_exception(ConnectionError(f"connection lost while reading ({self.state})"))

    def send(self, request: bytes) -> asyncio.Future[Outcome]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.outcome = Outcome()
        self.state = "head"
        self.buffer.clear()
        self.transport.write(request)
        return self.waiter

    def _body(self, data: bytes | bytearray) -> None:
        if data:
            if self.outcome.first_byte is None:
                self.outcome.first_byte = time.perf_counter()
            self.outcome.tail = (self.outcome.tail + bytes(data[-TAIL:]))[-TAIL:]

    def _done(self) -> None:
        self.state = "closed"
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.outcome)

    def data_received(self, data: bytes) -> None:
        if self.state == "length" and not self.buffer:  # the common case, without copying
            take = data[: self.remaining]
            self._body(take)
            self.remaining -= len(take)
            if not self.remaining:
                self._done()
            return
        if self.state == "until-close":
            self._body(data)
            return
        self.buffer += data
        try:
            self._parse()
        except (ValueError, IndexError) as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ValueError(f"unreadable response: {exc}"))
            if self.transport is not None:
                self.transport.close()

    def _parse(self) -> None:
        buffer = self.buffer
        while buffer and self.state != "closed":
            if self.state == "head":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
                del buffer[: end + 4]
                version, status = lines[0].split(" ", 2)[:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip().lower()
                self.outcome.status = int(status)
                connection = headers.get("connection", "")
                self.outcome.keep_alive = "close" not in connection and (
                    version == "HTTP/1.1" or "keep-alive" in connection
                )
                if "chunked" in headers.get("transfer-encoding", ""):
                    self.state = "chunk-size"
                elif "content-length" in headers:
                    self.remaining = int(headers["content-length"])
                    self.state = "length"
                    if not self.remaining:
                        self._done()
                else:
                    self.state = "until-close"
                    self.outcome.keep_alive = False
            elif self.state == "length":
                take = buffer[: self.remaining]
                del buffer[: len(take)]
                self._body(take)
                self.remaining -= len(take)
                if not self.remaining:
                    self._done()
            elif self.state == "until-close":
                self._body(buffer)
                buffer.clear()
            elif self.state == "chunk-size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buffer[:end]).split(b";", 1)[0], 16)
                del buffer[: end + 2]
                self.remaining, self.state = (size, "chunk-data") if size else (0, "trailer")
            elif self.state == "chunk-data":
                take = buffer[: self.remaining]
                del buffer[: len(take)]
                self._body(take)
                self.remaining -= len(take)
                if not self.remaining:
                    self.state = "chunk-end"
            elif self.state == "chunk-end":
                if len(buffer) < 2:
                    return
                del buffer[:2]  # the CRLF after a chunk's data
                self.state = "chunk-size"
            elif self.state == "trailer":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                del buffer[: end + 2]
                if end == 0:  # the empty line that ends the trailer section
                    self._done()


@dataclass
class Tally:
    first_bytes: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    errors: int = 0
    unfinished: int = 0
    first_error: str = ""

    def error(self, text: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or text


def _percentile(values: list[float], fraction: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else None


async def run(
    url: str,
    body: dict[str, Any],
    key: str,
    clients: int,
    seconds: float,
    ramp: float = 0.0,
    drain: float = 30.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = json.dumps(body).encode()
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    loop = asyncio.get_running_loop()
    tally = Tally()
    started = time.perf_counter()
    deadline = started + seconds

    async def client(index: int) -> None:
        await asyncio.sleep(ramp * index / clients)
        connection: _Client | None = None
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                if connection is None or connection.lost or connection.transport is None:
                    _, connection = await asyncio.wait_for(loop.create_connection(_Client, host, port), timeout)
                outcome = await asyncio.wait_for(connection.send(request), timeout)
            except asyncio.CancelledError:  # the drain limit: this stream is cut
                tally.error(f"unfinished {drain:.0f} s after the end")
                tally.unfinished += 1
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                raise
            except (OSError, ValueError, TimeoutError) as exc:
                tally.error(f"{type(exc).__name__}: {exc}")
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                connection = None
                continue
            ended = time.perf_counter()
            if outcome.status != 200:
                tally.error(f"status {outcome.status}: {outcome.tail[-TAIL:]!r}")
            elif not outcome.tail.rstrip().endswith(DONE):
                tally.error(f"no [DONE] frame at the end: {outcome.tail!r}")
            else:
                tally.durations.append((ended - began) * 1000)
                tally.first_bytes.append(((outcome.first_byte or ended) - began) * 1000)
            if not outcome.keep_alive and connection.transport is not None:
                connection.transport.close()
                connection = None
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    tasks = [asyncio.create_task(client(index)) for index in range(clients)]
    _, pending = await asyncio.wait(tasks, timeout=max(seconds, ramp) + drain)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "streams": len(tally.durations),
        "errors": tally.errors,
        "unfinished": tally.unfinished,
        "elapsed": elapsed,
        "streams_per_s": len(tally.durations) / elapsed,
        "first_byte_ms": {"p50": _percentile(tally.first_bytes, 0.5), "p99": _percentile(tally.first_bytes, 0.99)},
        "duration_ms": {"p50": _percentile(tally.durations, 0.5), "p99": _percentile(tally.durations, 0.99)},
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "first_error": tally.first_error,
    }


def main() -> None:
    args = json.loads(sys.argv[1])
    # Each client holds a socket: 1,000 of them need more than the usual soft limit of 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(
        run(
            args["url"],
            args["body"],
            args["key"],
            int(args["clients"]),
            float(args["seconds"]),
            float(args.get("ramp", 0)),
            float(args.get("drain", 30)),
            float(args.get("timeout", 120)),
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
