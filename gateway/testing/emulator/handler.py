"""The emulator's HTTP handler: routing, auth, the Cloudflare envelope, request capture, error
and fault injection (server.py FAULT_KINDS), first-byte latency (before every answer, images
included), SSE writing, Aura's chunked audio and Stable Diffusion's bare PNG. The
OpenAI-compatible mode's paths are dispatched to openai_mode.py and written by the same code;
the control API's to control.py. Facts come from the public Workers AI documentation
(https://developers.cloudflare.com/workers-ai/; /ai/run:
https://developers.cloudflare.com/api/resources/ai/methods/run/).

The handler keeps no state of its own: it reads and updates the WorkersAIEmulator behind
`self.server.emulator` (server.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .catalogue import DEFAULT_PER_PAGE, find_model, search_models
from .control import control
from .model_reply import ModelReply, StreamEvent
from .openai_errors import OpenAIError
from .openai_mode import OpenAIRoute, match_route, requested_model
from .openai_mode import serve as serve_openai
from .replies import licence_agreed, run_model
from .speech_audio import UnreadableAudio
from .validation import BadInput, validate_input

if TYPE_CHECKING:
    from .server import WorkersAIEmulator, _InjectedFault

BASE_PATH = "/client/v4"
CONTROL_PATH = "/__emulator/"
_RUN = re.compile(r"^/accounts/(?P<account>[^/]+)/ai/run/(?P<model>.+)$")
_SEARCH = re.compile(r"^/accounts/(?P<account>[^/]+)/ai/models/search$")
_V1_MODELS = re.compile(r"^/accounts/[^/]+/ai/v1/models$")
# Errors raised before any model sees the input carry `result: null`; model-layer ones `{}`
# (reference, Errors).
_GATEWAY_CODES = frozenset({7000, 7001, 7003, 9106, 10000})
LICENCE_MESSAGE = (
    "AiError: Prior to using this model, you must agree to the Meta Llama 3.2 Community License "
    "and Acceptable Use Policy: submit the prompt 'agree' to this model once to accept them."
)
# Whisper given bytes that hold no audio: a model-layer 400 (reference, Errors: 3010 "Invalid or
# incomplete input for the model").
UNREADABLE_AUDIO = (3010, "Invalid or incomplete input for the model: could not decode the audio")
# The data line a "malformed" stream fault sends: an event cut off inside its JSON.
MALFORMED_EVENT = b'data: {"response":"Hel\n\n'
# Aura's audio leaves in about this many chunks (none under 1 KiB), so a client can read it as it
# arrives and the per-chunk latency has gaps to widen.
AUDIO_CHUNKS = 8
MIN_AUDIO_CHUNK = 1024


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str  # after the base, e.g. "/accounts/test-account/ai/run/@cf/meta/llama-3.1-8b-instruct-fp8"
    model: str | None  # for /ai/run
    headers: dict[str, str]  # lower-case keys
    body: bytes  # as received, binary too (whisper's raw audio)
    json: Any  # the parsed body, or None when it is not JSON
    query: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "headers": self.headers,
            "query": self.query,
            "body": self.json,
            "body_size": len(self.body),
            # A body that is not JSON (raw audio) still reaches an emulator run as a process.
            "body_base64": base64.b64encode(self.body).decode("ascii") if self.json is None and self.body else None,
        }


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()


def error_envelope(code: int, message: str) -> dict[str, Any]:
    return {
        "result": None if code in _GATEWAY_CODES else {},
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }


def success_envelope(result: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": []}


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


def split_points(data: bytes) -> list[int]:
    """Where to cut one SSE event into separate writes: inside every multibyte UTF-8 character
    (after its lead byte) so a client decoding each read on its own corrupts it, as it would
    against the real API (reference, Streaming); otherwise in the middle of the event."""
    cuts = [i for i in range(1, len(data)) if data[i - 1] >= 0xC0 and 0x80 <= data[i] < 0xC0]
    return cuts or [len(data) // 2]


class _HasEmulator(Protocol):
    emulator: WorkersAIEmulator


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HasEmulator
    _fault: _InjectedFault | None = None  # the fault this request meets (inject_fault)

    def setup(self) -> None:
        super().setup()
        # Stream writes must leave as separate segments (reference: chunks split multibyte chars).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            pass  # the client, or stop(), closed the connection: nothing left to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and benchmarks want a quiet server; the capture list is the log

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- request plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, data: bytes, content_type: str, *headers: tuple[str, str], cut: bool = False) -> None:
        """The answer; `cut`: only the first half of its body, then the connection closes."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if cut else data)
        if cut:
            self.close_connection = True

    def _send_json(self, status: int, payload: Any, *headers: tuple[str, str]) -> None:
        # Compact and raw UTF-8, as Cloudflare sends it.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        fault = self._fault.kind if self._fault is not None and status == 200 else None
        if fault == "malformed":  # complete as HTTP goes (its Content-Length), not as JSON
            data = data[: len(data) // 2]
        self._send(status, data, "application/json", *headers, cut=fault == "cut")

    def _handle(self) -> None:
        emulator = self.server.emulator
        self._fault = None
        body = self._read_body()
        url = urlsplit(self.path)
        if url.path.startswith(CONTROL_PATH):
            self._send_json(*control(emulator, self.command, url.path[len(CONTROL_PATH) :], parse_json(body)))
            return
        under_base = url.path.startswith(BASE_PATH + "/")
        path = url.path[len(BASE_PATH) :] if under_base else url.path
        run = _RUN.match(path) if under_base else None
        search = _SEARCH.match(path) if under_base else None
        openai_route = match_route(path, under_base)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        model = run.group("model") if run else None
        if openai_route is not None:
            model = requested_model(openai_route, headers.get("content-type", ""), body)
        emulator._capture(CapturedRequest(self.command, path, model, headers, body, parse_json(body), query))
        emulator._sleep(emulator._latency()[0])
        if run is not None or openai_route is not None:
            self._fault = emulator._take_fault(model)
            if self._fault is not None and self._fault.kind == "drop":
                self.close_connection = True  # closed once this returns, with nothing sent
                return
        if openai_route is not None:
            self._serve_openai(openai_route, headers, body, url.path)
            return
        try:
            if run is None and search is None:
                if _V1_MODELS.match(path):
                    # GET /ai/v1/models does not exist upstream (reference, OpenAI-compatible).
                    raise _ApiError(405, 7001, "Method not allowed")
                raise _ApiError(404, 7000, "No route for that URI")
            if self.command != ("POST" if run else "GET"):
                raise _ApiError(405, 7001, "Method not allowed")
            self._authenticate((run or search).group("account"), url.path)  # type: ignore[union-attr]
            if run is None:
                self._send_json(200, self._search(query))
                return
            reply = self._run(run.group("model"), body)
        except _ApiError as exc:
            self._send_json(exc.status, error_envelope(exc.code, exc.message), *exc.headers)
            return
        self._write_reply(reply, enveloped=True)

    def _serve_openai(self, route: OpenAIRoute, headers: dict[str, str], body: bytes, full_path: str) -> None:
        """The OpenAI-compatible mode (openai_mode.py): bare OpenAI bodies, errors in the base's form."""
        try:
            if route.account is not None:
                try:
                    self._authenticate(route.account, full_path)
                except _ApiError as exc:
                    raise OpenAIError(exc.status, exc.code, exc.message) from None
            reply = serve_openai(route, self.command, headers, body, self.server.emulator)
        except OpenAIError as exc:
            self._send_json(exc.status_for(route.base), exc.body(route.base), *exc.headers())
            return
        self._write_reply(reply, enveloped=False)

    def _write_reply(self, reply: ModelReply, *, enveloped: bool) -> None:
        if reply.events is not None:
            self._write_stream(reply.events)
            return
        if reply.audio is not None:
            self._write_audio(reply.audio, reply.content_type)
            return
        self.server.emulator._sleep(reply.delay)
        if reply.image is not None:
            # Stable Diffusion: "The response is a binary PNG file", no envelope (its model pages).
            self._send(200, reply.image, reply.content_type)
            return
        self._send_json(200, success_envelope(reply.result) if enveloped else reply.result)

    def _authenticate(self, account: str, full_path: str) -> None:
        emulator = self.server.emulator
        authorization = self.headers.get("Authorization")
        if authorization is None:
            raise _ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if authorization != f"Bearer {emulator.token}":
            raise _ApiError(401, 10000, "Authentication error")
        if account != emulator.account_id:
            raise _ApiError(404, 7003, f"Could not route to {full_path}, perhaps your object identifier is invalid?")

    def _search(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            raise _ApiError(400, 5006, "AiError: Bad input: page and per_page must be integers") from None
        items, info = search_models(
            page=page,
            per_page=per_page,
            search=query.get("search"),
            task=query.get("task"),
            author=query.get("author"),
            hide_experimental=query.get("hide_experimental", "").lower() == "true",
        )
        return {**success_envelope(items), "result_info": info}

    def _run(self, model_name: str, raw: bytes) -> ModelReply:
        emulator = self.server.emulator
        injected = emulator._take_error(model_name)
        if injected is not None:
            raise _ApiError(injected.status, injected.code, injected.message, injected.retry_after)
        model = find_model(model_name)
        if model is None:
            raise _ApiError(400, 5007, f"No such model {model_name} or task")
        body = parse_json(raw)
        # whisper and whisper-tiny-en also take the audio file itself as the body (reference); an
        # empty one is audio that does not decode (3010), not bad JSON.
        binary_audio = model.family == "whisper" and not isinstance(body, dict)
        if body is None and not binary_audio:
            raise _ApiError(400, 5006, "AiError: Bad input: the request body is not valid JSON")
        if model.family == "vision":
            gate = emulator._licence(body)
            if gate == "agreeing":
                return licence_agreed()
            if gate == "closed":
                raise _ApiError(403, 5016, LICENCE_MESSAGE)
        try:
            if not binary_audio:
                validate_input(model, body)
        except BadInput as exc:
            raise _ApiError(400, 5006, f"AiError: Bad input: {exc}") from None
        try:
            return run_model(model, None if binary_audio else body, raw, speech_container=emulator._speech())
        except UnreadableAudio:
            raise _ApiError(400, *UNREADABLE_AUDIO) from None

    # --- streaming ---------------------------------------------------------------------------------

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _pause(self, seconds: float) -> None:
        """Wait between events as the emulator's latency says, but end the stream as soon as the
        client closes its connection, as a server notices: the socket turns readable at its end."""
        emulator = self.server.emulator
        deadline = time.monotonic() + seconds
        # poll, not select: select() refuses descriptors past 1024, which a long test run's process reaches.
        poller = select.poll()
        poller.register(self.connection, select.POLLIN)
        while (left := deadline - time.monotonic()) > 0 and not emulator._stopping.is_set():
            if not poller.poll(min(left, 0.05) * 1000):
                continue
            if not self.connection.recv(1, socket.MSG_PEEK):
                raise ConnectionAbortedError("the client closed the connection")
            emulator._sleep(left)  # bytes of a next request, not a close: wait on as before
            return

    @contextlib.contextmanager
    def _chunked(self, content_type: str, *headers: tuple[str, str]) -> Iterator[None]:
        """A chunked 200 answer, counted in open_streams while its body is written and in
        cut_streams when the client leaves before the last chunk."""
        emulator = self.server.emulator
        emulator._stream_opened()  # before the first byte: whoever has seen one finds it counted
        left_early = False
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            yield
            if self._fault is not None and self._fault.kind == "cut":
                self.close_connection = True  # closed once this returns, without the last chunk
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            left_early = True
            self.close_connection = True  # the client left mid-answer
        finally:
            emulator._stream_closed(left_early)

    def _write_audio(self, audio: bytes, content_type: str) -> None:
        """Aura's answer: the audio bytes themselves, no envelope, in several chunks paced by the
        per-chunk latency as stream events are."""
        per_chunk = self.server.emulator._latency()[1]
        size = max(MIN_AUDIO_CHUNK, -(-len(audio) // AUDIO_CHUNKS))
        with self._chunked(content_type):
            for i, start in enumerate(range(0, len(audio), size)):
                self._pause(per_chunk if i else 0.0)
                self._write_chunk(audio[start : start + size])

    def _write_stream(self, events: tuple[StreamEvent, ...]) -> None:
        emulator = self.server.emulator
        per_chunk = emulator._latency()[1]
        fault = self._fault
        with self._chunked("text/event-stream", ("Cache-Control", "no-cache")):
            for i, event in enumerate(events):
                self._pause(event.pause_before + (per_chunk if i else 0.0))
                if fault is not None and i == fault.after_events:
                    if fault.kind == "cut":
                        return
                    self._write_chunk(MALFORMED_EVENT)  # then the rest, as a buggy upstream goes on
                text = (
                    event.data
                    if isinstance(event.data, str)
                    else json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
                )
                data = f"data: {text}\n\n".encode()
                start = 0
                for cut in split_points(data):
                    self._write_chunk(data[start:cut])
                    if data[cut - 1] >= 0xC0:
                        emulator._sleep(0.002)  # let the half character leave on its own
                    start = cut
                self._write_chunk(data[start:])
