"""A fast OpenAI-shaped fake upstream in a process of its own: `python -m bench.fake_upstream`.

`make bench` (bench/compare.py) points the gateway, LiteLLM's proxy and the "direct" load at this
one server. It runs in its own process, on plain asyncio (an asyncio.Protocol per connection and
loop.call_later for pacing, no framework, no task per request), so that at 256 or 1,000 concurrent
streams the figures measure the target and not a threaded Python server sharing the load
generator's interpreter, as the Workers AI emulator did.

HTTP/1.1 with keep-alive (and pipelining, answered in order). Every request needs
`Authorization: Bearer <token>` (401 with an OpenAI error body otherwise). Routes:
- POST /v1/chat/completions: a chat.completion with usage; with `"stream": true` an SSE stream
  (Transfer-Encoding: chunked) of chat.completion.chunk events, one word a chunk, then a chunk with
  finish_reason "stop", a usage chunk (`choices: []`) when stream_options.include_usage is set, and
  `data: [DONE]`.
- POST /v1/embeddings: an embedding list of DIMENSIONS floats per input (base64 float32 when
  encoding_format is "base64", as OpenAI's Python SDK asks by default), with usage.
- GET /v1/models: the model list. GET /health, without a token: the connections open and the streams
  under way (bench/compare.py waits for none before a row, and for the server to start).

Pacing is read from the model name alone, so that every target gets the same behaviour from the
same body: a name ending in `-<N>x<M>` ("bench-stream-20x5", "bench-slow-50x200") streams N chunks
M ms apart (the first at once, the last M ms before the end, so N × M ms a stream); any other name
("bench-zero") streams DEFAULT_CHUNKS chunks at once. max_tokens is ignored for the same reason.
Non-streamed replies are always immediate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import resource
import signal
import struct
import time
from collections.abc import Callable
from itertools import count
from typing import Any

DIMENSIONS = 8
DEFAULT_CHUNKS = 16
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
REPLY = "Hello from the bench upstream, a fixed reply of a few words."
_PACING = re.compile(r"-(\d+)x(\d+)$")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS |= {411: "Length Required", 413: "Payload Too Large", 501: "Not Implemented"}
_ids = count(1)
# What /health reports: a target that drops its clients' streams may leave its upstream ones running.
ACTIVE = {"connections": 0, "streams": 0}


def pacing(model: str) -> tuple[int, float]:
    """(chunks, seconds between them) for a model name."""
    match = _PACING.search(model)
    if match is None:
        return DEFAULT_CHUNKS, 0.0
    return max(1, int(match[1])), int(match[2]) / 1000


def _error(status: int, message: str, code: str) -> tuple[int, bytes]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, json.dumps(body).encode()


def _word_count(value: Any) -> int:
    """A rough token count for usage: the words of every string in the messages or input."""
    if isinstance(value, str):
        return len(value.split()) or 1
    if isinstance(value, list):
        return sum(_word_count(item) for item in value)
    if isinstance(value, dict):
        return sum(_word_count(item) for item in value.values())
    return 0


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    model = str(request.get("model") or "")
    return {
        "id": f"chatcmpl-bench{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(_word_count(request.get("messages")), len(REPLY.split())),
    }


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    """The embedding list for a request; ValueError for an input of no known form."""
    raw = request.get("input")
    # A string, a list of strings, a list of token ids or a list of token-id lists (OpenAI's forms).
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw)):
        inputs: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        inputs = raw
    else:
        raise ValueError("'input' must be a string, a non-empty list of strings or of token ids.")
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index in range(len(inputs)):
        vector = [round(0.1 * ((index + d) % 7) + 0.05, 3) for d in range(DIMENSIONS)]
        embedding: Any = base64.b64encode(struct.pack(f"<{DIMENSIONS}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    prompt = _word_count(inputs)
    return {
        "object": "list",
        "data": data,
        "model": str(request.get("model") or ""),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


def model_list() -> dict[str, Any]:
    names = ("bench-zero", "bench-stream-20x5", "bench-paced-50x40", "bench-slow-50x200", "bench-embed")
    created = int(time.time())
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": created, "owned_by": "bench"} for n in names],
    }


class _Stream:
    """One SSE answer in flight: its chunks written from loop.call_later callbacks."""

    def __init__(self, server: _Connection, request: dict[str, Any]) -> None:
        self.server = server
        self.model = str(request.get("model") or "")
        self.chunks, self.pause = pacing(self.model)
        options = request.get("stream_options")
        self.usage = isinstance(options, dict) and options.get("include_usage") is True
        self.prompt = _word_count(request.get("messages"))
        self.id = f"chatcmpl-bench{next(_ids)}"
        self.created = int(time.time())
        self.sent = 0
        self.live = False  # counted in ACTIVE["streams"]
        self.handle: asyncio.TimerHandle | None = None
        # Every chunk shares this prefix; only the delta and finish_reason differ.
        self.head = (
            f'{{"id":"{self.id}","object":"chat.completion.chunk","created":{self.created},'
            f'"model":{json.dumps(self.model)},"system_fingerprint":"fp_bench","choices":'
        )

    def start(self) -> None:
        self.live = True
        ACTIVE["streams"] += 1
        self.server.write_head(200, "text/event-stream", None)
        self.step()

    def _event(self, choices: str, tail: str = "") -> bytes:
        return f"data: {self.head}{choices}{tail}}}\n\n".encode()

    def _chunk(self, index: int) -> bytes:
        # One word a chunk ("w0", " w1", …), the first chunk also naming the role.
        role = '"role":"assistant",' if index == 0 else ""
        word = f"w{index}" if index == 0 else f" w{index}"
        return self._event(f'[{{"index":0,"delta":{{{role}"content":"{word}"}},"logprobs":null,"finish_reason":null}}]')

    def step(self) -> None:
        self.handle = None
        if self.server.transport is None or self.server.transport.is_closing():
            return
        if self.pause:
            self.server.write_chunk(self._chunk(self.sent))
            self.sent += 1
            after = self.step if self.sent < self.chunks else self.finish
            self.handle = self.server.loop.call_later(self.pause, after)
            return
        # Unpaced: every chunk now, each an HTTP chunk of its own, in one write.
        self.server.write_chunks([self._chunk(index) for index in range(self.chunks)])
        self.sent = self.chunks
        self.finish()

    def finish(self) -> None:
        self.handle = None
        if self.server.transport is None or self.server.transport.is_closing():
            return
        final = '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]'
        parts = [self._event(final)]
        if self.usage:
            usage = json.dumps(_usage(self.prompt, self.chunks), separators=(",", ":"))
            parts.append(self._event("[]", f',"usage":{usage}'))
        parts.append(b"data: [DONE]\n\n")
        self.server.write_chunks(parts, last=True)
        self.end()
        self.server.stream = None
        self.server.process()  # a request pipelined behind this stream

    def end(self) -> None:
        if self.live:
            self.live = False
            ACTIVE["streams"] -= 1

    def cancel(self) -> None:
        self.end()
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed from the buffer in order, answered one at a time."""

    def __init__(self, token: str) -> None:
        self.auth = f"Bearer {token}".encode()
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.stream: _Stream | None = None
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        ACTIVE["connections"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        ACTIVE["connections"] -= 1
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.stream is None:
            self.process()

    def process(self) -> None:
        """Answer every whole request in the buffer, stopping at a stream until it has ended."""
        while self.stream is None and self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.reply(*_error(413, "Request head too large.", "head_too_large"), close=True)
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = head[0].split(" ", 2)
            except ValueError:
                self.reply(*_error(400, "Malformed request line.", "bad_request"), close=True)
                return
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                # No client the bench drives sends chunked bodies; refusing is clearer than guessing.
                self.reply(*_error(501, "Chunked request bodies are not supported.", "not_implemented"), close=True)
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self.reply(*_error(400, "Bad Content-Length.", "bad_request"), close=True)
                return
            if length > MAX_BODY:
                self.reply(*_error(413, "Request body too large.", "body_too_large"), close=True)
                return
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is still on its way
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            connection = headers.get("connection", "").lower()
            self.keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
            self.handle(method, target.split("?", 1)[0], headers, body)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        if path in ("/health", "/healthz") and method == "GET":
            self.reply(200, json.dumps({"status": "ok", **ACTIVE}).encode())
            return
        if headers.get("authorization", "").encode() != self.auth:
            self.reply(*_error(401, "Incorrect API key provided.", "invalid_api_key"))
            return
        routes: dict[str, tuple[str, Callable[[bytes], None]]] = {
            "/v1/chat/completions": ("POST", self.chat),
            "/v1/embeddings": ("POST", self.embed),
            "/v1/models": ("GET", lambda _: self.reply(200, json.dumps(model_list()).encode())),
        }
        route = routes.get(path.rstrip("/"))
        if route is None:
            self.reply(*_error(404, f"No route {path}.", "not_found"))
        elif route[0] != method:
            self.reply(*_error(405, f"{path} takes {route[0]}.", "method_not_allowed"))
        else:
            route[1](body)

    def _json(self, body: bytes) -> dict[str, Any] | None:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self.reply(*_error(400, "The body is not a JSON object.", "invalid_json"))
            return None
        return parsed

    def chat(self, body: bytes) -> None:
        request = self._json(body)
        if request is None:
            return
        if not isinstance(request.get("messages"), list) or not request.get("model"):
            self.reply(*_error(400, "'model' and 'messages' are required.", "invalid_request"))
        elif request.get("stream") is True:
            self.stream = _Stream(self, request)
            self.stream.start()
        else:
            self.reply(200, json.dumps(chat_completion(request), separators=(",", ":")).encode())

    def embed(self, body: bytes) -> None:
        request = self._json(body)
        if request is None:
            return
        try:
            answer = embeddings(request)
        except ValueError as exc:
            self.reply(*_error(400, str(exc), "invalid_input"))
            return
        self.reply(200, json.dumps(answer, separators=(",", ":")).encode())

    # --- writing ------------------------------------------------------------------------------------

    def _head(self, status: int, content_type: str, length: int | None) -> bytes:
        framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        connection = "keep-alive" if self.keep_alive else "close"
        extra = "Cache-Control: no-cache\r\n" if content_type == "text/event-stream" else ""
        return (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"{framing}\r\n{extra}Connection: {connection}\r\nx-request-id: bench-{next(_ids)}\r\n\r\n"
        ).encode()

    def reply(self, status: int, body: bytes, close: bool = False) -> None:
        if self.transport is None:
            return
        self.keep_alive = self.keep_alive and not close
        self.transport.write(self._head(status, "application/json", len(body)) + body)
        if not self.keep_alive:
            self.transport.close()

    def write_head(self, status: int, content_type: str, length: int | None) -> None:
        if self.transport is not None:
            self.transport.write(self._head(status, content_type, length))

    def write_chunk(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))

    def write_chunks(self, events: list[bytes], last: bool = False) -> None:
        """Each event an HTTP chunk, all in one write; `last` ends the body (and a closing connection)."""
        if self.transport is None:
            return
        framed = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events)
        self.transport.write(framed + b"0\r\n\r\n" if last else framed)
        if last and not self.keep_alive:
            self.transport.close()


def raise_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each stream holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(host: str, port: int, token: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    # A deep backlog: 1,000 clients connecting within a second must not see refused connections.
    server = await loop.create_server(lambda: _Connection(token), host, port, backlog=4096, reuse_address=True)
    print(f"fake upstream on http://{host}:{port}/v1", flush=True)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--token", default="bench-token")
    args = parser.parse_args()
    raise_file_limit()
    asyncio.run(serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
