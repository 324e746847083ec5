"""WorkersAIProvider against the Workers AI emulator, over real HTTP.

Reply rule (gateway/testing/emulator/replies.py): "Hello! You said: <last user text>", one token
per word; reasoning models think "I should greet the user." first.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from workers_ai_helpers import (
    ACCOUNT,
    GPT_OSS,
    LLAMA,
    QWEN3,
    QWQ,
    R1_DISTILL,
    THOUGHT,
    TOKEN,
    ask,
    collect,
    emu_fixture,  # noqa: F401
    provider_emulator_fixture,  # noqa: F401
    provider_for,
)

from gateway.providers.base import ChatMessage, ChatRequest, ToolCall
from gateway.providers.workers_ai import parse_result
from gateway.testing.emulator import WorkersAIEmulator

# --- non-streaming ------------------------------------------------------------------------------


def test_chat_returns_the_reply_and_usage(emu: WorkersAIEmulator) -> None:
    result = provider_for(emu).chat(ask("hi there"))
    assert result.content == "Hello! You said: hi there"
    assert result.reasoning == ""
    assert result.tool_calls == ()
    assert result.usage is not None
    assert result.usage.completion_tokens == 5
    assert result.usage.prompt_tokens > 0


def test_chat_calls_the_run_url_with_the_token(emu: WorkersAIEmulator) -> None:
    provider_for(emu).chat(ask("hi"))
    sent = emu.last_request
    assert sent is not None
    assert sent.method == "POST"
    # The model id sits in the path unescaped: "@" and "/" as they are.
    assert sent.path == f"/accounts/{ACCOUNT}/ai/run/{LLAMA}"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"


def test_chat_sends_only_documented_fields(emu: WorkersAIEmulator) -> None:
    request = ChatRequest(
        model=LLAMA,
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Look it up."),
            ChatMessage(role="assistant", content="Looking."),
            ChatMessage(role="tool", content='{"found": true}', name="lookup", tool_call_id="call_abc"),
            ChatMessage(role="user", content="And?"),
        ),
        max_tokens=50,
        temperature=0.0,
        top_p=0.9,
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=0.2,
    )
    assert provider_for(emu).chat(request).content == "Hello! You said: And?"
    body = emu.last_request.json
    assert set(body) == {
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "frequency_penalty",
        "presence_penalty",
    }
    assert body["temperature"] == 0  # falsy, yet sent
    assert (body["max_tokens"], body["top_p"], body["seed"]) == (50, 0.9, 7)
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.1, 0.2)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": "Looking."},
        {"role": "tool", "content": '{"found": true}', "tool_call_id": "call_abc", "name": "lookup"},
        {"role": "user", "content": "And?"},
    ]


@pytest.mark.parametrize(
    ("seed", "sent"),
    [(0, 9999999999), (-5, 9999999994), (7, 7), (9999999999, 9999999999), (10**10, 1)],
)
def test_chat_folds_a_seed_into_the_schemas_range(emu: WorkersAIEmulator, seed: int, sent: int) -> None:
    # Workers AI takes `seed` only as an integer in 1..9999999999 (the emulator rejects anything
    # else with 5006); OpenAI clients may send 0, negatives or larger values.
    assert provider_for(emu).chat(ask("hi", seed=seed)).content == "Hello! You said: hi"
    arrived = emu.last_request.json["seed"]
    assert isinstance(arrived, int) and 1 <= arrived <= 9999999999
    assert arrived == sent


def test_chat_leaves_unset_fields_out(emu: WorkersAIEmulator) -> None:
    provider_for(emu).chat(ask("hi"))
    assert emu.last_request.json == {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("flagged", [False, True])
def test_chat_splits_qwq_thinking_from_the_answer(emu: WorkersAIEmulator, flagged: bool) -> None:
    result = provider_for(emu).chat(ask("hi", QWQ, reasoning=flagged))
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")


def test_chat_splits_r1_distill_output_that_omits_the_opening_tag(emu: WorkersAIEmulator) -> None:
    result = provider_for(emu).chat(ask("hi", R1_DISTILL, reasoning=True))
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")


def test_chat_reads_qwen3s_chat_completion_inside_result(emu: WorkersAIEmulator) -> None:
    result = provider_for(emu).chat(ask("hi", QWEN3, reasoning=True))
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")
    assert result.finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == 9
    assert set(emu.last_request.json) == {"messages"}


def test_chat_speaks_the_responses_form_to_gpt_oss(emu: WorkersAIEmulator) -> None:
    request = ChatRequest(
        model=GPT_OSS,
        messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "hi")),
        max_tokens=100,
        temperature=0.0,
        top_p=0.5,
        seed=3,  # not in the Responses schema: must not be sent
    )
    result = provider_for(emu).chat(request)
    assert emu.last_request.json == {
        "instructions": "Be brief.",
        "input": "hi",
        "max_output_tokens": 100,
        "temperature": 0.0,
        "top_p": 0.5,
    }
    assert (result.reasoning, result.content) == (THOUGHT, "Hello! You said: hi")
    assert result.usage is not None and result.usage.completion_tokens == 9
    assert result.finish_reason is None


@pytest.mark.parametrize(("effort", "sent"), [("high", "high"), ("low", "low"), ("minimal", "low"), ("none", None)])
def test_gpt_oss_takes_the_reasoning_effort(emu: WorkersAIEmulator, effort: str, sent: str | None) -> None:
    # gpt-oss takes low | medium | high (the emulator refuses anything else, as Workers AI does).
    assert provider_for(emu).chat(ask("hi", GPT_OSS, reasoning_effort=effort)).content == "Hello! You said: hi"
    assert emu.last_request.json.get("reasoning") == (None if sent is None else {"effort": sent})


def test_a_model_without_reasoning_is_sent_no_effort(emu: WorkersAIEmulator) -> None:
    assert provider_for(emu).chat(ask("hi", reasoning_effort="high")).content == "Hello! You said: hi"
    assert set(emu.last_request.json) == {"messages"}  # Llama's schema has no reasoning field


def test_chat_sends_a_gpt_oss_conversation_as_input_items(emu: WorkersAIEmulator) -> None:
    request = ChatRequest(
        model=GPT_OSS,
        messages=(
            ChatMessage("system", "A."),
            ChatMessage("system", "B."),
            ChatMessage("user", "first"),
            ChatMessage("assistant", "reply"),
            ChatMessage("user", "second"),
        ),
    )
    assert provider_for(emu).chat(request).content == "Hello! You said: second"
    assert emu.last_request.json == {
        "instructions": "A.\n\nB.",
        "input": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "second"},
        ],
    }


def test_chat_sends_earlier_gpt_oss_tool_turns_as_function_call_items(
    emu: WorkersAIEmulator,
) -> None:
    call = ToolCall(id="call_1", name="lookup", arguments='{"q": "x"}')
    request = ChatRequest(
        model=GPT_OSS,
        messages=(
            ChatMessage("user", "find x"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", '{"hit": 1}', tool_call_id="call_1"),
            ChatMessage("user", "thanks"),
        ),
    )
    assert provider_for(emu).chat(request).content == "Hello! You said: thanks"
    assert emu.last_request.json["input"] == [
        {"role": "user", "content": "find x"},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": "x"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"hit": 1}'},
        {"role": "user", "content": "thanks"},
    ]


def test_chat_reports_a_gpt_oss_answer_cut_by_max_tokens_as_length(emu: WorkersAIEmulator) -> None:
    result = provider_for(emu).chat(ask("hi", GPT_OSS, max_tokens=2))
    assert result.finish_reason == "length"
    assert result.content == ""


def test_legacy_tool_calls_become_tool_calls_with_ids_and_json_arguments(
    emu: WorkersAIEmulator,
) -> None:
    # ChatRequest has no tools yet (a later issue), and the emulator only calls a tool that the
    # request offers: so the request is sent by hand and its real answer goes through the parser.
    tools = [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    answer = requests.post(
        f"{emu.base_url}/accounts/{ACCOUNT}/ai/run/{LLAMA}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"messages": [{"role": "user", "content": "weather? [[tool]]"}], "tools": tools},
        timeout=5,
    ).json()["result"]
    assert answer["tool_calls"][0]["arguments"] == {"city": "example"}  # legacy, an object

    result = parse_result(answer, False)
    (call,) = result.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "example"}
    assert call.id.startswith("call_") and len(call.id) == 29
    int(call.id[5:], 16)  # 24 hex digits
    assert result.content == ""  # `response: null` upstream
    assert parse_result(answer, False).tool_calls[0].id != call.id  # fresh every time


# --- streaming -----------------------------------------------------------------------------------


def test_stream_reassembles_to_the_non_stream_reply(emu: WorkersAIEmulator) -> None:
    provider = provider_for(emu)
    whole = provider.chat(ask("hello world"))
    reasoning, content, deltas = collect(provider.chat_stream(ask("hello world")))
    assert emu.last_request.json["stream"] is True
    assert (reasoning, content) == ("", whole.content)
    assert len([d for d in deltas if d.content]) == 5  # one delta per upstream token
    usages = [d.usage for d in deltas if d.usage is not None]
    assert usages == [whole.usage]


def test_stream_keeps_multibyte_characters_intact(emu: WorkersAIEmulator) -> None:
    # The emulator cuts every multibyte character across separate network writes.
    _, content, _ = collect(provider_for(emu).chat_stream(ask("[[unicode]]")))
    assert content == "Grüße, 世界 🌍 ok"


def test_stream_passes_ordinary_content_on_without_waiting(emu: WorkersAIEmulator) -> None:
    # "[[slow]]" pauses 2 s after the first event: the first word must not wait for the rest.
    started = time.monotonic()
    stream = provider_for(emu).chat_stream(ask("[[slow]] hi"))
    first = next(stream)
    assert first.content == "Hello!"
    assert time.monotonic() - started < 1.5
    stream.close()


@pytest.mark.parametrize(("model", "flagged"), [(QWQ, False), (QWQ, True), (R1_DISTILL, True)])
def test_stream_splits_thinking_from_the_answer(emu: WorkersAIEmulator, model: str, flagged: bool) -> None:
    reasoning, content, deltas = collect(provider_for(emu).chat_stream(ask("hi", model, reasoning=flagged)))
    assert (reasoning, content) == (THOUGHT, "Hello! You said: hi")
    assert not any("think>" in d.content for d in deltas)
    assert any(d.usage is not None for d in deltas)


def test_stream_reads_qwen3s_openai_chunks(emu: WorkersAIEmulator) -> None:
    reasoning, content, deltas = collect(provider_for(emu).chat_stream(ask("hi", QWEN3, reasoning=True)))
    assert (reasoning, content) == (THOUGHT, "Hello! You said: hi")
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert [d.usage.completion_tokens for d in deltas if d.usage] == [9]


def test_stream_of_gpt_oss_replays_the_whole_answer(emu: WorkersAIEmulator) -> None:
    reasoning, content, deltas = collect(provider_for(emu).chat_stream(ask("hi", GPT_OSS)))
    assert "stream" not in emu.last_request.json  # the emulator refuses stream:true here
    assert (reasoning, content) == (THOUGHT, "Hello! You said: hi")
    assert deltas[-1].usage is not None


def test_stream_closed_early_gives_its_connection_back(emu: WorkersAIEmulator) -> None:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=1))
    stream = provider_for(emu, session=session).chat_stream(ask("[[long]]"))
    assert next(stream).content == "word1"
    pools = session.get_adapter(emu.base_url).poolmanager.pools
    (pool,) = (pools[key] for key in pools.keys())
    assert pool.pool.qsize() == 0  # the stream holds the one connection
    stream.close()
    assert pool.pool.qsize() == 1
    assert provider_for(emu, session=session).chat(ask("again")).content.endswith("again")


def test_stream_closed_before_iteration_gives_its_connection_back(emu: WorkersAIEmulator) -> None:
    # A client can leave between the upstream's headers and the first delta.
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=1))
    stream = provider_for(emu, session=session).chat_stream(ask("[[long]]"))
    pools = session.get_adapter(emu.base_url).poolmanager.pools
    (pool,) = (pools[key] for key in pools.keys())
    assert pool.pool.qsize() == 0
    stream.close()
    assert pool.pool.qsize() == 1
