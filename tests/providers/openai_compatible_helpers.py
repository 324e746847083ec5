"""What the OpenAICompatibleProvider tests share: the emulator in its OpenAI-compatible mode, a
scripted upstream for answer shapes the emulator does not produce (vLLM's and Ollama's
variations), providers pointed at either, and small request and stream helpers.

Reply rule (gateway/testing/emulator/replies.py): "Hello! You said: <last user text>", one token
per word; reasoning models think "I should greet the user." first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from gateway.providers.base import (
    ChatDelta,
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ToolSpec,
)
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from gateway.testing.emulator import WorkersAIEmulator

ACCOUNT = "oa-account"
TOKEN = "oa-token"
LLAMA = "@cf/meta/llama-3.1-8b-instruct-fp8"
QWEN3 = "@cf/qwen/qwen3-30b-a3b-fp8"
QWQ = "@cf/qwen/qwq-32b"
VISION = "@cf/meta/llama-3.2-11b-vision-instruct"
EMBEDDER = "@cf/baai/bge-base-en-v1.5"
THOUGHT = "I should greet the user."
WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
PIXEL = (  # a 1×1 PNG
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
DEADLINE_SECONDS = 10.0


# --- the upstreams ------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="oa_emulator")
def oa_emulator_fixture() -> Iterator[WorkersAIEmulator]:
    emu = WorkersAIEmulator(account_id=ACCOUNT, token=TOKEN, port=0)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(name="emu")
def emu_fixture(oa_emulator: WorkersAIEmulator) -> Iterator[WorkersAIEmulator]:
    oa_emulator.reset()
    yield oa_emulator
    oa_emulator.reset()


@dataclass
class Canned:
    """One scripted answer: a status, headers, and a body sent as these chunks (each flushed)."""

    chunks: list[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    json: object


class ScriptedUpstream:
    """A local HTTP server answering each request with the next canned answer, recording what came."""

    def __init__(self) -> None:
        self.answers: list[Canned] = []
        self.seen: list[Seen] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no framing needed

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, None)
                seen.json = json.loads(raw) if raw else None
                upstream.seen.append(seen)
                canned = upstream.answers.pop(0)
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for chunk in canned.chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer_json(self, body: object, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.answers.append(
            Canned([json.dumps(body).encode()], status, {"Content-Type": "application/json", **(headers or {})})
        )

    def answer_events(self, *events: object, done: bool = True) -> None:
        frames = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events]
        if done:
            frames.append(b"data: [DONE]\n\n")
        self.answers.append(Canned(frames, 200, {"Content-Type": "text/event-stream"}))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(DEADLINE_SECONDS)


@pytest.fixture(name="scripted")
def scripted_fixture() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream()
    yield upstream
    upstream.close()


def provider_at(
    base_url: str,
    *,
    token: str = TOKEN,
    headers: dict[str, str] | None = None,
    read_timeout: float = 10.0,
    session: requests.Session | None = None,
) -> OpenAICompatibleProvider:
    config = ProviderConfig(
        kind="openai_compatible",
        base_url=base_url,
        account_id="",
        api_token=token,
        connect_timeout=2.0,
        read_timeout=read_timeout,
        extra_headers=headers,
    )
    return OpenAICompatibleProvider(config, session=session)


def openai_provider(emu: WorkersAIEmulator, **kwargs: object) -> OpenAICompatibleProvider:
    return provider_at(emu.openai_base_url, **kwargs)  # type: ignore[arg-type]


def cloudflare_base(emu: WorkersAIEmulator) -> str:
    return f"{emu.base_url}/accounts/{ACCOUNT}/ai/v1"


def ask(text: str, model: str = LLAMA, **fields: object) -> ChatRequest:
    return ChatRequest(model=model, messages=(ChatMessage(role="user", content=text),), **fields)  # type: ignore[arg-type]


def collect(deltas: Iterator[ChatDelta]) -> tuple[str, str, list[ChatDelta]]:
    got = list(deltas)
    return "".join(d.reasoning for d in got), "".join(d.content for d in got), got


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
