"""The Workers AI emulator over real HTTP: text generation, streaming and model-specific shapes."""

from __future__ import annotations

import json

from emulator_helpers import (
    GPT_OSS,
    LLAMA,
    QWEN3,
    WEATHER_TOOL,
    assert_bad_input,
    chat,
    emu_fixture,  # noqa: F401
    run,
    sse_data,
)

from gateway.testing.emulator import WorkersAIEmulator

# --- streaming -------------------------------------------------------------------------------------------


def test_it_streams_padded_events_then_usage_then_done(emu: WorkersAIEmulator) -> None:
    response = run(emu, LLAMA, chat("stream me", stream=True), stream=True)
    assert response.headers["Content-Type"] == "text/event-stream"
    data = sse_data(b"".join(response.iter_content(None)))
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    pieces, final = events[:-1], events[-1]
    assert "".join(e["response"] for e in pieces) == "Hello! You said: stream me"
    assert all(1 <= len(e["p"]) <= 20 for e in pieces)
    assert all("tool_calls" in e for e in pieces[1:])
    assert final == {
        "response": "",
        "usage": {
            "prompt_tokens": final["usage"]["prompt_tokens"],
            "completion_tokens": 5,
            "total_tokens": final["usage"]["prompt_tokens"] + 5,
        },
    }


def test_it_splits_multibyte_characters_across_reads(emu: WorkersAIEmulator) -> None:
    response = run(emu, LLAMA, chat("[[unicode]]", stream=True), stream=True)
    reads = list(response.iter_content(None))

    def decodes(chunk: bytes) -> bool:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    assert any(not decodes(chunk) for chunk in reads)
    events = [json.loads(d) for d in sse_data(b"".join(reads))[:-1]]
    assert "".join(e["response"] for e in events) == "Grüße, 世界 🌍 ok"


def test_json_mode_answers_the_envelope_even_when_streaming_is_asked(emu: WorkersAIEmulator) -> None:
    response = run(emu, LLAMA, chat("hi", stream=True, response_format={"type": "json_object"}))
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["result"]["response"] == {"answer": "Hello! You said: hi"}


# --- reply rule and triggers ----------------------------------------------------------------------------


def test_max_tokens_truncates_the_reply(emu: WorkersAIEmulator) -> None:
    short = run(emu, LLAMA, chat("[[long]]", max_tokens=10)).json()["result"]
    assert short["response"] == " ".join(f"word{i}" for i in range(1, 11))
    assert short["usage"]["completion_tokens"] == 10
    default = run(emu, LLAMA, chat("[[long]]")).json()["result"]
    assert default["usage"]["completion_tokens"] == 256 and default["response"].endswith(" word256")


def test_a_tool_call_comes_back_in_the_legacy_shape(emu: WorkersAIEmulator) -> None:
    result = run(emu, LLAMA, chat("[[tool]] weather?", tools=[WEATHER_TOOL])).json()["result"]
    assert result["response"] is None
    assert result["tool_calls"] == [{"name": "get_weather", "arguments": {"location": "example"}}]


def test_reasoning_models_put_their_thoughts_in_think_tags(emu: WorkersAIEmulator) -> None:
    qwq = run(emu, "@cf/qwen/qwq-32b", chat("hi")).json()["result"]["response"]
    assert qwq == "<think>\nI should greet the user.\n</think>\n\nHello! You said: hi"
    r1 = run(emu, "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", chat("hi")).json()["result"]["response"]
    assert r1 == "I should greet the user.\n</think>\n\nHello! You said: hi"


def test_qwen3_returns_an_openai_chat_completion_inside_result(emu: WorkersAIEmulator) -> None:
    result = run(emu, QWEN3, chat("hi")).json()["result"]
    assert result["id"].startswith("chatcmpl-") and result["object"] == "chat.completion"
    assert result["model"] == QWEN3
    choice = result["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello! You said: hi",
        "reasoning_content": "I should greet the user.",
        "tool_calls": [],
    }
    assert choice["finish_reason"] == "stop"
    usage = result["usage"]
    assert usage["completion_tokens"] == 5 + 4 and usage["total_tokens"] == usage["prompt_tokens"] + 9


def test_qwen3_streams_openai_chunks(emu: WorkersAIEmulator) -> None:
    data = sse_data(run(emu, QWEN3, chat("hi", stream=True)).content)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "I should greet the user."
    assert "".join(d.get("content", "") for d in deltas) == "Hello! You said: hi"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9


def test_gpt_oss_answers_the_responses_shape(emu: WorkersAIEmulator) -> None:
    result = run(emu, GPT_OSS, {"input": "hi", "instructions": "Be brief.", "reasoning": {"effort": "low"}}).json()[
        "result"
    ]
    assert set(result) == {"id", "object", "status", "model", "output", "usage"}
    assert result["id"].startswith("resp_") and result["object"] == "response" and result["status"] == "completed"
    assert result["output"] == [
        {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "I should greet the user."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello! You said: hi"}]},
    ]
    assert result["usage"]["output_tokens"] == 9
    cut = run(emu, GPT_OSS, {"input": "hi", "max_output_tokens": 6}).json()["result"]
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["output"][1]["content"][0]["text"] == "Hello!"


def test_gpt_oss_refuses_streaming_and_unknown_keys(emu: WorkersAIEmulator) -> None:
    assert_bad_input(run(emu, GPT_OSS, {"input": "hi", "stream": True}), "stream")
    assert_bad_input(run(emu, GPT_OSS, {"input": "hi", "max_tokens": 5}), "'max_tokens'")
    completion = run(emu, GPT_OSS, chat("hi")).json()["result"]
    assert completion["choices"][0]["message"]["reasoning_content"] == "I should greet the user."
