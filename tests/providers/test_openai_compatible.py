"""OpenAICompatibleProvider over real HTTP against the emulator's OpenAI-compatible mode (its
generic base /openai/v1 and Cloudflare's /accounts/{id}/ai/v1): chat and streams.
"""

from __future__ import annotations

import json
import threading

import pytest
from openai_compatible_helpers import (
    ACCOUNT,
    DEADLINE_SECONDS,
    LLAMA,
    PIXEL,
    QWEN3,
    QWQ,
    THOUGHT,
    TOKEN,
    VISION,
    WEATHER,
    ask,
    cloudflare_base,
    collect,
    emu_fixture,  # noqa: F401
    oa_emulator_fixture,  # noqa: F401
    openai_provider,
    provider_at,
    scripted_fixture,  # noqa: F401
    wait_until,
)

from gateway.providers.base import (
    ChatMessage,
    ChatRequest,
    ImageRef,
    ProviderError,
    ResponseFormat,
    ToolCall,
)
from gateway.testing.emulator import WorkersAIEmulator

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
        reasoning_effort="low",
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
        "reasoning_effort": "low",  # passed on as the client gave it
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
