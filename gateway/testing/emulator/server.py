"""The emulator's lifecycle and state: start/stop, captured requests, injected errors, faults and
latency, the vision licence flag, MeloTTS's container, the OpenAI mode's stream-usage switch and
the images it answers as links. The HTTP side (routing, auth, envelope,
SSE, chunked audio) is handler.py.

The standard library plus PyAV (the `av` package, FFmpeg bundled) and Pillow, both pinned in
requirements.txt: the speech models read and write real audio (speech_audio.py), the image models
draw real pictures (image_models.py); so tests, the demo and benchmarks can start it anywhere the
gateway runs. One daemon thread serves, one thread per
connection answers (HTTP/1.1 keep-alive, so a requests.Session reuses sockets).
"""

from __future__ import annotations

import secrets
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .handler import BASE_PATH, CapturedRequest, EmulatorHandler
from .openai_mode import OPENAI_BASE_PATH
from .speech import SPEECH_CONTAINERS

__all__ = ["CapturedRequest", "WorkersAIEmulator"]

_STOP_JOIN_SECONDS = 5.0
_STORED_FILES = 64  # images answered as links (OpenAI mode); older ones are forgotten
_POLL_SECONDS = 0.01


@dataclass
class _InjectedError:
    status: int
    code: int
    message: str
    model: str | None
    remaining: int
    retry_after: int | None = None
    after: int = 0  # matching requests answered normally before the error starts


# What a broken upstream or the network between does to an answer (inject_fault):
# "drop": the connection closes once the request is read, before any byte of an answer;
# "cut": the answer's headers and its first `after_events` stream events (a whole answer: half
# its body) are sent, then the connection closes without the body's end;
# "malformed": the answer is not what it says it is: a JSON answer whose body does not parse, or
# a stream whose event after the first `after_events` carries a data line that is not JSON.
FAULT_KINDS = ("drop", "cut", "malformed")


@dataclass
class _InjectedFault:
    kind: str
    model: str | None
    remaining: int
    after_events: int


class WorkersAIEmulator:
    """A Workers AI REST API on a local port; see the package docstring for the public API."""

    def __init__(
        self,
        account_id: str = "test-account",
        token: str = "test-token",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        vision_licence_agreed: bool = False,
    ) -> None:
        self.account_id = account_id
        self.token = token
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._captured: list[CapturedRequest] = []
        self._errors: list[_InjectedError] = []
        self._faults: list[_InjectedFault] = []
        self._first_byte = 0.0
        self._per_chunk = 0.0
        self._vision_agreed = vision_licence_agreed
        self._speech_container = "mp3"
        self._openai_usage = True
        self._files: dict[str, tuple[bytes, str]] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._streams_open = 0
        self._streams_cut = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> WorkersAIEmulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), EmulatorHandler, self)
        self.port = self._server.server_address[1]
        # A short poll interval makes stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(_POLL_SECONDS,),
            name=f"workers-ai-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on latency or [[slow]]
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            # Idle keep-alive connections block their handler thread in recv(); shutting the
            # socket down ends them so no thread outlives stop().
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in connections:
            thread.join(_STOP_JOIN_SECONDS)
        if self._thread is not None:
            self._thread.join(_STOP_JOIN_SECONDS)
        self._server = self._thread = None

    def __enter__(self) -> WorkersAIEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{self.host}:{self.port}{BASE_PATH}"

    @property
    def openai_base_url(self) -> str:
        """The generic OpenAI-compatible server (openai_mode.py): {root}/openai/v1, Bearer = token."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{self.host}:{self.port}{OPENAI_BASE_PATH}"

    # --- inspection and control --------------------------------------------------------------------

    @property
    def requests(self) -> list[CapturedRequest]:
        with self._lock:
            return list(self._captured)

    @property
    def last_request(self) -> CapturedRequest | None:
        with self._lock:
            return self._captured[-1] if self._captured else None

    @property
    def open_streams(self) -> int:
        """Streamed answers being written now (a stream ends at its last event or when its client
        closes the connection, noticed at once, also during a pause between events)."""
        with self._lock:
            return self._streams_open

    @property
    def cut_streams(self) -> int:
        """Streams whose client closed the connection before their last event, since reset()."""
        with self._lock:
            return self._streams_cut

    def reset(self) -> None:
        with self._lock:
            self._captured.clear()
            self._errors.clear()
            self._faults.clear()
            self._first_byte = self._per_chunk = 0.0
            self._streams_cut = 0
            self._speech_container = "mp3"
            self._openai_usage = True
            self._files.clear()

    def inject_error(
        self,
        status: int = 429,
        code: int = 3040,
        message: str = "Capacity temporarily exceeded",
        model: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        """The next `times` model requests (of `model`, or any) answer this error: on /ai/run and
        Cloudflare's /ai/v1 with `code`, on the generic OpenAI base with OpenAI's type and code for
        `status`. `retry_after` (seconds) adds a Retry-After header. `after`: that many matching
        requests are answered normally first (a failure part-way through n > 1 or several batches)."""
        with self._lock:
            self._errors.append(_InjectedError(status, code, message, model, times, retry_after, after))

    def inject_fault(self, kind: str, model: str | None = None, times: int = 1, after_events: int = 1) -> None:
        """The next `times` model requests (of `model`, or any) meet a broken upstream instead of
        an answer; `kind` is one of FAULT_KINDS (above). Taken before injected errors."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        with self._lock:
            self._faults.append(_InjectedFault(kind, model, times, max(0, after_events)))

    def set_latency(self, first_byte: float = 0.0, per_chunk: float = 0.0) -> None:
        with self._lock:
            self._first_byte, self._per_chunk = first_byte, per_chunk

    def set_speech_container(self, container: str = "mp3") -> None:
        """What MeloTTS's base64 `audio` holds: "mp3" (as its model page says; the default) or
        "wav" (as one report saw upstream), so a gateway can be tested to sniff, not assume."""
        if container not in SPEECH_CONTAINERS:
            raise ValueError(f"speech container must be one of {', '.join(SPEECH_CONTAINERS)}, got {container!r}")
        with self._lock:
            self._speech_container = container

    def set_openai_stream_usage(self, enabled: bool = True) -> None:
        """False: OpenAI-mode streams never send the usage chunk, even when stream_options asks for
        it (as some OpenAI-compatible servers do), so a client's own estimate can be tested."""
        with self._lock:
            self._openai_usage = enabled

    # --- used by the handler -----------------------------------------------------------------------

    def _capture(self, request: CapturedRequest) -> None:
        with self._lock:
            self._captured.append(request)

    def _take_error(self, model: str | None) -> _InjectedError | None:
        with self._lock:
            for injected in self._errors:
                if injected.model is None or injected.model == model:
                    if injected.after > 0:
                        injected.after -= 1
                        return None
                    injected.remaining -= 1
                    if injected.remaining <= 0:
                        self._errors.remove(injected)
                    return injected
        return None

    def _take_fault(self, model: str | None) -> _InjectedFault | None:
        with self._lock:
            for injected in self._faults:
                if injected.model is None or injected.model == model:
                    injected.remaining -= 1
                    if injected.remaining <= 0:
                        self._faults.remove(injected)
                    return injected
        return None

    def _latency(self) -> tuple[float, float]:
        with self._lock:
            return self._first_byte, self._per_chunk

    def _openai_stream_usage(self) -> bool:
        with self._lock:
            return self._openai_usage

    def _store_file(self, data: bytes, content_type: str, suffix: str = "") -> str:
        name = secrets.token_hex(12) + suffix
        with self._lock:
            self._files[name] = (data, content_type)
            while len(self._files) > _STORED_FILES:
                del self._files[next(iter(self._files))]
        return name

    def _stored_file(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(name)

    def _speech(self) -> str:
        with self._lock:
            return self._speech_container

    def _licence(self, body: Any) -> str:
        """The vision licence gate (reference, Vision): "open" once agreed, "agreeing" for the
        request that agrees ({"prompt": "agree"}), "closed" otherwise (the handler answers 5016)."""
        with self._lock:
            if self._vision_agreed:
                return "open"
            if body == {"prompt": "agree"}:
                self._vision_agreed = True
                return "agreeing"
            return "closed"

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _stream_opened(self) -> None:
        with self._lock:
            self._streams_open += 1

    def _stream_closed(self, cut: bool) -> None:
        with self._lock:
            self._streams_open -= 1
            self._streams_cut += cut

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections[conn] = threading.current_thread()
            else:
                self._connections.pop(conn, None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a benchmark opens hundreds at once.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: WorkersAIEmulator
    ) -> None:
        self.emulator = emulator
        super().__init__(address, handler)
