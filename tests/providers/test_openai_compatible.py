"""OpenAICompatibleProvider over real HTTP: against the emulator's OpenAI-compatible mode (its
generic base /openai/v1 and Cloudflare's /accounts/{id}/ai/v1), and against a scripted upstream
for answer shapes the emulator does not produce (vLLM's and Ollama's variations).

Reply rule (gateway/testing/emulator/replies.py): "Hello! You said: <last user text>", one token
per word; reasoning models think "I should greet the user." first.
"""

from __future__ import annotations

import base64
import json
import struct
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
    EmbeddingRequest,
    ImageRef,
    ProviderConfig,
    ProviderError,
    ResponseFormat,
    ToolCall,
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


# --- chat against the emulator ------------------------------------------------------------------


def test_chat_returns_the_reply_and_usage(emu: WorkersAIEmulator) -> None:
    result = openai_provider(emu).chat(ask("hi there"))
    assert result.content == "Hello! You said: hi there"
    assert (result.reasoning, result.tool_calls) == ("", ())
    assert result.usage is not None and result.usage.completion_tokens == 5 and result.usage.prompt_tokens > 0
    assert result.finish_reason is None  # "stop" is the gateway's to derive


def test_chat_posts_to_chat_completions_with_the_token_and_extra_headers(emu: WorkersAIEmulator) -> None:
    openai_provider(emu, headers={"OpenAI-Organization": "org-42", "X-Team": "search"}).chat(ask("hi"))
    sent = emu.last_request
    assert (sent.method, sent.path) == ("POST", "/openai/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert (sent.headers["openai-organization"], sent.headers["x-team"]) == ("org-42", "search")
    assert sent.json == {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}


def test_chat_sends_every_set_field_in_openai_form(emu: WorkersAIEmulator) -> None:
    request = ChatRequest(
        model=LLAMA,
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Weather in Paris?", name="ann"),
            ChatMessage(
                role="assistant", content="", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)
            ),
            ChatMessage(role="tool", content='{"sky": "blue"}', name="get_weather", tool_call_id="call_1"),
        ),
        max_tokens=50,
        temperature=0.0,
        top_p=0.9,
        seed=0,
        frequency_penalty=0.1,
        presence_penalty=-0.2,
        tools=(WEATHER,),
    )
    result = openai_provider(emu).chat(request)
    assert result.content == 'Hello! You said: Tool result: {"sky": "blue"}'
    body = emu.last_request.json
    assert body == {
        "model": LLAMA,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?", "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "content": '{"sky": "blue"}', "tool_call_id": "call_1"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parameters": WEATHER.parameters,
                },
            }
        ],
        "max_tokens": 50,
        "temperature": 0.0,  # falsy, yet sent
        "top_p": 0.9,
        "seed": 0,  # OpenAI takes any 64-bit seed: nothing is folded
        "frequency_penalty": 0.1,
        "presence_penalty": -0.2,
    }


def test_chat_returns_a_tool_call_with_json_string_arguments(emu: WorkersAIEmulator) -> None:
    result = openai_provider(emu).chat(ask("[[tool]] look it up", tools=(WEATHER,)))
    (call,) = result.tool_calls
    assert call.name == "get_weather" and call.id
    assert json.loads(call.arguments) == {"city": "example"}
    assert result.content == ""


def test_chat_sends_images_as_image_url_parts(emu: WorkersAIEmulator) -> None:
    message = ChatMessage(role="user", content="What is this?", images=(ImageRef(PIXEL, "messages[0].content[1]"),))
    result = openai_provider(emu).chat(ChatRequest(model=VISION, messages=(message,)))
    assert result.content == "Hello! You said: What is this?"
    assert emu.last_request.json["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}],
        }
    ]


@pytest.mark.parametrize(
    ("fmt", "sent"),
    [
        (ResponseFormat("json_object"), {"type": "json_object"}),
        (
            ResponseFormat("json_schema", {"type": "object", "properties": {"a": {"type": "string"}}}, "answer"),
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "answer",
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                },
            },
        ),
    ],
)
def test_chat_sends_json_mode_and_reads_json_back(emu: WorkersAIEmulator, fmt: ResponseFormat, sent: dict) -> None:
    result = openai_provider(emu).chat(ask("give json", response_format=fmt))
    assert emu.last_request.json["response_format"] == sent
    assert isinstance(json.loads(result.content), dict)


@pytest.mark.parametrize("model", [QWEN3, QWQ])
def test_chat_reads_reasoning_content(emu: WorkersAIEmulator, model: str) -> None:
    result = openai_provider(emu).chat(ask("hi", model, reasoning=True))
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")


def test_chat_passes_length_on(emu: WorkersAIEmulator) -> None:
    result = openai_provider(emu).chat(ask("[[long]]", max_tokens=3))
    assert result.finish_reason == "length"
    assert result.content == "word1 word2 word3"


def test_chat_on_cloudflares_ai_v1(emu: WorkersAIEmulator) -> None:
    result = provider_at(cloudflare_base(emu)).chat(ask("hi", QWEN3))
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")
    assert emu.last_request.path == f"/accounts/{ACCOUNT}/ai/v1/chat/completions"


# --- streams against the emulator ---------------------------------------------------------------


def test_stream_reassembles_to_the_reply_with_usage(emu: WorkersAIEmulator) -> None:
    reasoning, content, deltas = collect(openai_provider(emu).chat_stream(ask("one two three", QWEN3)))
    assert (reasoning, content) == (THOUGHT, "Hello! You said: one two three")
    assert len([d for d in deltas if d.content]) > 1  # really streamed, piece by piece
    usage = [d.usage for d in deltas if d.usage is not None]
    assert usage and usage[-1].completion_tokens > 0
    body = emu.last_request.json
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


def test_stream_without_a_usage_event_ends_without_usage(emu: WorkersAIEmulator) -> None:
    emu.set_openai_stream_usage(False)
    _, content, deltas = collect(openai_provider(emu).chat_stream(ask("hi")))
    assert content == "Hello! You said: hi"
    assert all(d.usage is None for d in deltas)


def test_stream_emits_a_whole_tool_call(emu: WorkersAIEmulator) -> None:
    _, content, deltas = collect(openai_provider(emu).chat_stream(ask("[[tool]] now", tools=(WEATHER,))))
    calls = [call for d in deltas for call in d.tool_calls]
    assert content == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "example"})]
    assert calls[0].id


def test_stream_closed_midway_from_another_thread_cuts_the_upstream(emu: WorkersAIEmulator) -> None:
    emu.set_latency(per_chunk=0.5)  # 400 words, one every half second: far from its end
    stream = openai_provider(emu).chat_stream(ask("[[long]]"))
    assert next(stream).content == "word1"
    outcome: list[object] = []

    def read_on() -> None:  # blocked between events, as the keep-alive pump thread would be
        try:
            outcome.append(list(stream))
        except Exception as exc:  # noqa: BLE001 - the reader's ending is what is asserted
            outcome.append(exc)

    reader = threading.Thread(target=read_on)
    reader.start()
    wait_until(lambda: emu.open_streams == 1, "the upstream stream is open")
    stream.close()
    reader.join(DEADLINE_SECONDS)
    assert not reader.is_alive()  # woken by close(), not left to read the other 399 words
    (ended,) = outcome  # an error, or the end: either way, not the rest of the answer
    assert isinstance(ended, ProviderError) or len(ended) < 399
    wait_until(lambda: emu.open_streams == 0, "the upstream saw the connection close")
    assert emu.cut_streams == 1


# --- legacy completions, embeddings, models ------------------------------------------------------


def test_a_prompt_goes_to_completions(emu: WorkersAIEmulator) -> None:
    result = openai_provider(emu).chat(ChatRequest(model=LLAMA, messages=(), prompt="Once upon", max_tokens=20))
    assert result.content == "Hello! You said: Once upon"
    assert result.usage is not None and result.usage.completion_tokens == 5
    assert emu.last_request.path == "/openai/v1/completions"
    assert emu.last_request.json == {"model": LLAMA, "prompt": "Once upon", "max_tokens": 20}


def test_a_prompt_streams_text_completion_chunks(emu: WorkersAIEmulator) -> None:
    _, content, deltas = collect(openai_provider(emu).chat_stream(ChatRequest(model=LLAMA, messages=(), prompt="hey")))
    assert content == "Hello! You said: hey"
    assert any(d.usage is not None for d in deltas)
    assert emu.last_request.path == "/openai/v1/completions"


@pytest.mark.parametrize("on_cloudflare", [False, True])
def test_embed_returns_one_vector_per_text_in_order(emu: WorkersAIEmulator, on_cloudflare: bool) -> None:
    provider = provider_at(cloudflare_base(emu)) if on_cloudflare else openai_provider(emu)
    texts = ("alpha", "beta", "alpha")
    result = provider.embed(EmbeddingRequest(model=EMBEDDER, texts=texts))
    assert len(result.vectors) == 3 and len(result.vectors[0]) == 768
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert emu.last_request.json == {"model": EMBEDDER, "input": list(texts), "encoding_format": "float"}
    # Cloudflare's embedding models take at most 100 texts a call; others get a larger batch.
    assert provider.embedding_batch == (100 if on_cloudflare else 256)


def test_list_models_reads_the_model_list(emu: WorkersAIEmulator) -> None:
    models = {m.name: m for m in openai_provider(emu).list_models()}
    assert emu.last_request.method == "GET" and emu.last_request.path == "/openai/v1/models"
    assert models[LLAMA].task == "chat"
    assert models[EMBEDDER].task == "embedding"
    assert isinstance(models[LLAMA].created, int)


def test_list_models_on_cloudflares_ai_v1_says_there_is_no_list(emu: WorkersAIEmulator) -> None:
    with pytest.raises(ProviderError) as caught:
        provider_at(cloudflare_base(emu)).list_models()
    assert caught.value.upstream_status == 405
    assert "workers_ai" in caught.value.message and ACCOUNT not in caught.value.message


# --- shapes of other servers (scripted) ----------------------------------------------------------


def test_no_token_sends_no_authorization(scripted: ScriptedUpstream) -> None:
    scripted.answer_json({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})
    result = provider_at(scripted.base_url, token="", headers={"X-Team": "a"}).chat(ask("hi", "llama3"))
    assert result.content == "ok" and result.usage is None
    assert "authorization" not in scripted.seen[0].headers
    assert scripted.seen[0].headers["x-team"] == "a"
    assert scripted.seen[0].path == "/v1/chat/completions"


def test_ollamas_reasoning_field_is_reasoning(scripted: ScriptedUpstream) -> None:
    message = {"role": "assistant", "content": "Hi!", "reasoning": "Greet back."}
    scripted.answer_json({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    result = provider_at(scripted.base_url).chat(ask("hi", "qwen3"))
    assert (result.reasoning, result.content, result.finish_reason) == ("Greet back.", "Hi!", None)


@pytest.mark.parametrize(
    ("text", "flagged", "expected"),
    [
        ("<think>\nHmm.\n</think>\n\nHi!", False, ("Hmm.", "Hi!")),  # a literal leading block
        ("Hmm.\n</think>\n\nHi!", True, ("Hmm.", "Hi!")),  # the template opened it (R1 distill on vLLM)
        ("Hmm.\n</think>\n\nHi!", False, ("", "Hmm.\n</think>\n\nHi!")),  # not a reasoning route
        ("Hi!", True, ("", "Hi!")),  # a reasoning route that did not reason this time
    ],
)
def test_think_blocks_in_content_are_split(
    scripted: ScriptedUpstream, text: str, flagged: bool, expected: tuple[str, str]
) -> None:
    scripted.answer_json({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
    result = provider_at(scripted.base_url).chat(ask("hi", "r1", reasoning=flagged))
    assert (result.reasoning, result.content) == expected


def test_a_flagged_route_whose_server_splits_reasoning_streams_content_as_content(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"reasoning_content": "Hmm."}), chunk({"content": "Hi"}), chunk({"content": "!"}, "stop")
    )
    reasoning, content, _ = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "r1", reasoning=True)))
    assert (reasoning, content) == ("Hmm.", "Hi!")


def test_a_flagged_route_streams_an_unopened_think_block_as_reasoning(scripted: ScriptedUpstream) -> None:
    pieces = ["Hmm", ".\n</th", "ink>\n\n", "Hi!"]
    scripted.answer_events(*(chunk({"content": p}) for p in pieces))
    reasoning, content, _ = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "r1", reasoning=True)))
    assert (reasoning, content) == ("Hmm.", "Hi!")


def test_tool_call_fragments_are_assembled_by_index(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),  # interleaved: still call 0
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    )
    deltas = list(provider_at(scripted.base_url).chat_stream(ask("hi", "m", tools=(WEATHER,))))
    with_calls = [d for d in deltas if d.tool_calls]
    assert len(with_calls) == 1  # every call once, whole, when the choice finished
    assert with_calls[0].tool_calls == (ToolCall("call_a", "f", '{"x": 1}'), ToolCall("call_b", "g", "{}"))
    assert deltas[-1].usage is not None and deltas[-1].usage.prompt_tokens == 9


def test_tool_calls_without_index_are_told_apart_by_id(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
        done=False,  # and a stream that just ends, without [DONE] or a finish_reason
    )
    calls = [c for d in provider_at(scripted.base_url).chat_stream(ask("hi", "m")) for c in d.tool_calls]
    assert [(c.id, c.name, c.arguments) for c in calls] == [("c1", "f", '{"a": 1}'), ("c2", "g", "{}")]


def test_an_error_event_midstream_is_a_provider_error(scripted: ScriptedUpstream) -> None:
    scripted.answer_events(
        chunk({"content": "Hel"}),
        {"error": {"message": "The engine crashed.", "type": "server_error", "code": None}},
    )
    stream = provider_at(scripted.base_url).chat_stream(ask("hi", "m"))
    assert next(stream).content == "Hel"
    with pytest.raises(ProviderError) as caught:
        next(stream)
    assert (caught.value.kind, caught.value.message) == ("upstream", "Upstream error: The engine crashed.")


def test_a_stream_answered_whole_is_replayed(scripted: ScriptedUpstream) -> None:
    message = {"role": "assistant", "content": "Hi!", "reasoning_content": "Hmm."}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    scripted.answer_json({"choices": [{"index": 0, "message": message, "finish_reason": "length"}], "usage": usage})
    reasoning, content, deltas = collect(provider_at(scripted.base_url).chat_stream(ask("hi", "m")))
    assert (reasoning, content) == ("Hmm.", "Hi!")
    assert (deltas[-1].usage.completion_tokens, deltas[-1].finish_reason) == (2, "length")  # type: ignore[union-attr]


def test_embeddings_out_of_order_or_in_base64_are_put_right(scripted: ScriptedUpstream) -> None:
    packed = base64.b64encode(struct.pack("<2f", 0.5, -1.0)).decode()
    data = [{"object": "embedding", "index": 1, "embedding": packed}, {"index": 0, "embedding": [1.0, 2.0]}]
    scripted.answer_json({"object": "list", "data": data, "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    result = provider_at(scripted.base_url).embed(EmbeddingRequest(model="nomic-embed-text", texts=("a", "b")))
    assert result.vectors == ((1.0, 2.0), (0.5, -1.0))
    assert result.usage is not None and result.usage.prompt_tokens == 4


def test_list_models_names_tasks_by_id(scripted: ScriptedUpstream) -> None:
    ids = ["gpt-4o", "text-embedding-3-small", "whisper-1", "tts-1", "dall-e-3", "omni-moderation-latest", "bge-m3"]
    scripted.answer_json({"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000} for i in ids]})
    tasks = {m.name: (m.task, m.created) for m in provider_at(scripted.base_url).list_models()}
    assert {name: task for name, (task, _) in tasks.items()} == {
        "gpt-4o": "chat",
        "text-embedding-3-small": "embedding",
        "whisper-1": "transcription",
        "tts-1": "speech",
        "dall-e-3": "image",
        "omni-moderation-latest": "moderation",
        "bge-m3": "embedding",
    }
    assert tasks["gpt-4o"][1] == 1700000000
