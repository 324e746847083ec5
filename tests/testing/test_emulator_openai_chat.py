"""The emulator's OpenAI-compatible mode, text side: chat/completions, completions, embeddings,
models, errors and knobs, on the generic base (openai_base_url) and Cloudflare's /ai/v1, driven
with requests and with the official openai SDK."""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

import openai
import pytest
import requests
from emulator_helpers import (
    AUTH,
    GPT_OSS,
    LLAMA,
    QWEN3,
    VISION,
    WEATHER_TOOL,
    emu_fixture,  # noqa: F401
    run,
    sse_data,
)

from gateway.testing.emulator import WorkersAIEmulator
from gateway.testing.emulator.catalogue import MODELS

QWQ = "@cf/qwen/qwq-32b"
BGE = "@cf/baai/bge-small-en-v1.5"
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def cloudflare_base(emu: WorkersAIEmulator) -> str:
    return f"{emu.base_url}/accounts/test-account/ai/v1"


def post(url: str, body: Any, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    return requests.post(url, json=body, timeout=10, **kwargs)


def sdk(base_url: str) -> openai.OpenAI:
    # Strict validation: every answer must parse as the SDK's own types.
    return openai.OpenAI(base_url=base_url, api_key="test-token", max_retries=0, _strict_response_validation=True)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": text}], **extra}


def chunks_of(response: requests.Response) -> list[Any]:
    data = sse_data(response.content)
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


# --- chat/completions -------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["openai", "cloudflare"])
@pytest.mark.parametrize("model", [LLAMA, QWEN3, GPT_OSS])
def test_chat_answers_what_ai_run_answers(emu: WorkersAIEmulator, base: str, model: str) -> None:
    url = emu.openai_base_url if base == "openai" else cloudflare_base(emu)
    answer = post(f"{url}/chat/completions", {"model": model, **user("hi there")}).json()
    system = {"role": "system", "content": "Be brief."}
    native = run(emu, model, {"messages": [system, user("hi there")["messages"][1]]})
    result = native.json()["result"]
    expected = result["choices"][0]["message"]["content"] if "choices" in result else result["response"]
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    assert answer["model"] == model
    (choice,) = answer["choices"]
    assert choice["message"]["content"] == expected == "Hello! You said: hi there"
    assert choice["finish_reason"] == "stop"
    wanted = {k: result["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert answer["usage"] == wanted
    if model != LLAMA:
        assert choice["message"]["reasoning_content"] == "I should greet the user."


def test_the_sdk_reads_a_chat_completion_and_its_stream(emu: WorkersAIEmulator) -> None:
    client = sdk(emu.openai_base_url)
    completion = client.chat.completions.create(model=LLAMA, **user("one two"))
    assert completion.choices[0].message.content == "Hello! You said: one two"
    stream = client.chat.completions.create(
        model=LLAMA, stream=True, stream_options={"include_usage": True}, **user("one two")
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! You said: one two"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == completion.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens == 5


def test_a_stream_sends_usage_only_when_asked(emu: WorkersAIEmulator) -> None:
    plain = chunks_of(post(f"{emu.openai_base_url}/chat/completions", {"model": LLAMA, "stream": True, **user("x")}))
    assert all(chunk["choices"] and "usage" not in chunk for chunk in plain)
    assert plain[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_reasoning_streams_in_reasoning_content(emu: WorkersAIEmulator) -> None:
    chunks = chunks_of(post(f"{cloudflare_base(emu)}/chat/completions", {"model": QWQ, "stream": True, **user("hi")}))
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "I should greet the user."
    assert "".join(d.get("content", "") for d in deltas) == "Hello! You said: hi"
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1


@pytest.mark.parametrize("model", [LLAMA, QWEN3])
def test_tool_calls_come_whole_and_streamed_in_openai_form(emu: WorkersAIEmulator, model: str) -> None:
    body = {"model": model, "tools": [WEATHER_TOOL], **user("What's the weather in Paris?")}
    answer = post(f"{emu.openai_base_url}/chat/completions", body).json()
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris"}
    stream = sdk(emu.openai_base_url).chat.completions.create(stream=True, **body)
    deltas = [c.choices[0].delta for c in stream if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].tool_calls[0].id and deltas[0].tool_calls[0].function.name == "get_weather"
    assert all(d.tool_calls[0].index == 0 and d.tool_calls[0].id is None for d in deltas[1:])
    arguments = "".join(d.tool_calls[0].function.arguments or "" for d in deltas)
    assert json.loads(arguments) == {"location": "Paris"}


def test_tool_choice_none_and_named(emu: WorkersAIEmulator) -> None:
    other = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    base = {"model": LLAMA, "tools": [other, WEATHER_TOOL], **user("[[tool]]")}
    url = f"{emu.openai_base_url}/chat/completions"
    assert post(url, {**base, "tool_choice": "none"}).json()["choices"][0]["message"]["content"].startswith("Hello")
    named = post(url, {**base, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}).json()
    assert named["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert emu.last_request.json["tool_choice"]["function"]["name"] == "get_weather"
    missing = post(url, {**base, "tool_choice": {"type": "function", "function": {"name": "nope"}}})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "tool_choice"


def test_json_mode_matches_the_models_json_mode(emu: WorkersAIEmulator) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}}
    answer = post(f"{emu.openai_base_url}/chat/completions", {"model": LLAMA, "response_format": fmt, **user("Rome")})
    native = run(emu, LLAMA, {"messages": [{"role": "user", "content": "Rome"}], "response_format": fmt})
    content = answer.json()["choices"][0]["message"]["content"]
    assert json.loads(content) == native.json()["result"]["response"] == {"city": "Hello! You said: Rome"}
    parsed = sdk(emu.openai_base_url).chat.completions.create(
        model=LLAMA, response_format={"type": "json_object"}, **user("x")
    )
    assert json.loads(parsed.choices[0].message.content or "") == {"answer": "Hello! You said: x"}


def test_n_stop_and_max_tokens(emu: WorkersAIEmulator) -> None:
    url = f"{emu.openai_base_url}/chat/completions"
    many = post(url, {"model": LLAMA, "n": 3, **user("hi")}).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in many["choices"]} == {"Hello! You said: hi"}
    assert many["usage"]["completion_tokens"] == 3 * 4
    stopped = post(url, {"model": LLAMA, "stop": ["said"], **user("hi")}).json()
    assert stopped["choices"][0]["message"]["content"] == "Hello! You "
    assert stopped["choices"][0]["finish_reason"] == "stop" and stopped["usage"]["completion_tokens"] == 2
    cut = post(url, {"model": LLAMA, "max_completion_tokens": 5, **user("[[long]]")}).json()
    assert cut["choices"][0]["message"]["content"] == "word1 word2 word3 word4 word5"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert emu.last_request.json["max_completion_tokens"] == 5


def test_a_vision_model_takes_data_url_images(emu: WorkersAIEmulator) -> None:
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    body = {"model": VISION, "messages": [{"role": "user", "content": parts}]}
    answer = post(f"{emu.openai_base_url}/chat/completions", body)
    assert answer.json()["choices"][0]["message"]["content"] == "Hello! You said: What is this?"
    parts[1]["image_url"]["url"] = "https://example.com/cat.png"
    refused = post(f"{emu.openai_base_url}/chat/completions", body)
    assert refused.status_code == 400 and "data: URL" in refused.json()["error"]["message"]
    to_text_model = post(f"{emu.openai_base_url}/chat/completions", {**body, "model": LLAMA})
    assert to_text_model.status_code == 400 and to_text_model.json()["error"]["type"] == "invalid_request_error"


# --- completions --------------------------------------------------------------------------------------


def test_completions_use_the_prompt_form(emu: WorkersAIEmulator) -> None:
    url = f"{emu.openai_base_url}/completions"
    answer = post(url, {"model": LLAMA, "prompt": ["a", "b"], "n": 2}).json()
    assert answer["object"] == "text_completion" and answer["id"].startswith("cmpl-")
    assert [c["text"] for c in answer["choices"]] == ["Hello! You said: a"] * 2 + ["Hello! You said: b"] * 2
    assert [c["index"] for c in answer["choices"]] == [0, 1, 2, 3]
    native = run(emu, LLAMA, {"prompt": "a"}).json()["result"]["usage"]
    assert answer["usage"]["completion_tokens"] == 4 * native["completion_tokens"]
    # OpenAI's default max_tokens on this endpoint is 16.
    long = sdk(emu.openai_base_url).completions.create(model=LLAMA, prompt="[[long]]")
    assert long.choices[0].text.split() == [f"word{i}" for i in range(1, 17)]
    assert long.choices[0].finish_reason == "length"
    asked = {"model": LLAMA, "prompt": "x", "stream": True, "stream_options": {"include_usage": True}}
    streamed = chunks_of(post(url, asked))
    assert {c["object"] for c in streamed} == {"text_completion"}
    assert "".join(c["choices"][0]["text"] for c in streamed if c["choices"]) == "Hello! You said: x"
    assert streamed[-1]["choices"] == [] and streamed[-1]["usage"]["completion_tokens"] == 4
    assert post(url, {"model": LLAMA, "prompt": "x", "echo": True}).status_code == 400
    assert post(f"{cloudflare_base(emu)}/completions", {"model": LLAMA, "prompt": "x"}).status_code == 404


# --- embeddings and models ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["openai", "cloudflare"])
def test_embeddings_are_the_ai_run_vectors(emu: WorkersAIEmulator, base: str) -> None:
    url = emu.openai_base_url if base == "openai" else cloudflare_base(emu)
    native = run(emu, BGE, {"text": ["alpha beta", "gamma"]}).json()["result"]["data"]
    floats = post(f"{url}/embeddings", {"model": BGE, "input": ["alpha beta", "gamma"]}).json()
    assert floats["object"] == "list" and floats["model"] == BGE
    assert [d["embedding"] for d in floats["data"]] == native and [d["index"] for d in floats["data"]] == [0, 1]
    assert floats["usage"] == {"prompt_tokens": 3 + 2, "total_tokens": 5}
    packed = post(f"{url}/embeddings", {"model": BGE, "input": "gamma", "encoding_format": "base64"}).json()
    raw = base64.b64decode(packed["data"][0]["embedding"], validate=True)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(native[1], abs=1e-6)
    # The SDK asks for base64 and decodes it itself (after validation: so not the strict client).
    client = openai.OpenAI(base_url=url, api_key="test-token", max_retries=0)
    decoded = client.embeddings.create(model=BGE, input=["gamma", [1, 2, 3]])
    assert decoded.data[0].embedding == pytest.approx(native[1], abs=1e-6) and len(decoded.data[1].embedding) == 384
    assert post(f"{url}/embeddings", {"model": LLAMA, "input": "x"}).status_code == 400


def test_models_list_the_catalogue(emu: WorkersAIEmulator) -> None:
    client = sdk(emu.openai_base_url)
    listed = client.models.list()
    assert [m.id for m in listed.data] == [m.name for m in MODELS]
    assert listed.data[0].object == "model" and listed.data[0].owned_by == "meta" and listed.data[0].created > 0
    assert client.models.retrieve(QWEN3).id == QWEN3
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("@cf/meta/nope")
    # Cloudflare's /ai/v1/models still does not exist.
    assert requests.get(f"{cloudflare_base(emu)}/models", headers=AUTH, timeout=10).json()["errors"][0]["code"] == 7001


# --- errors ------------------------------------------------------------------------------------------------


def test_generic_errors_are_in_openais_form(emu: WorkersAIEmulator) -> None:
    url = f"{emu.openai_base_url}/chat/completions"
    body = {"model": LLAMA, **user("hi")}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = post(url, body, headers=headers)
        assert refused.status_code == 401 and set(refused.json()["error"]) == {"message", "type", "param", "code"}
    assert post(url, body, headers={"Authorization": "Bearer wrong"}).json()["error"]["code"] == "invalid_api_key"
    unknown = post(url, {**body, "model": "@cf/meta/nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    for bad in ({**body, "topP": 1}, {**body, "temperature": "hot"}, {**body, "temperature": 3}, {"model": LLAMA}):
        refused = post(url, bad)
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error", bad
    assert post(url, {**body, "stream_options": {"include_usage": True}}).status_code == 400
    with pytest.raises(openai.BadRequestError):
        sdk(emu.openai_base_url).chat.completions.create(model=LLAMA, messages=[], extra_body={"bogus": 1})


def test_cloudflare_errors_are_in_cloudflares_form(emu: WorkersAIEmulator) -> None:
    url = f"{cloudflare_base(emu)}/chat/completions"
    body = {"model": LLAMA, **user("hi")}
    wrong = post(url, body, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    unknown = post(url, {**body, "model": "@cf/meta/nope"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == 5007
    bad = post(url, {**body, "n": "two"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == 5006
    assert bad.json()["errors"][0]["message"].startswith("AiError: Bad input: ") and bad.json()["result"] is None


def test_injected_errors_reach_every_base_with_retry_after(emu: WorkersAIEmulator) -> None:
    emu.inject_error(429, 3040, "Capacity temporarily exceeded", model=QWEN3, times=3, retry_after=7)
    assert post(f"{emu.openai_base_url}/chat/completions", {"model": LLAMA, **user("hi")}).status_code == 200
    generic = post(f"{emu.openai_base_url}/chat/completions", {"model": QWEN3, "bogus": 1})
    assert generic.status_code == 429 and generic.headers["Retry-After"] == "7"
    assert generic.json()["error"]["code"] == "rate_limit_exceeded"
    cloudflare = post(f"{cloudflare_base(emu)}/chat/completions", {"model": QWEN3, **user("hi")})
    assert cloudflare.status_code == 429 and cloudflare.headers["Retry-After"] == "7"
    assert cloudflare.json()["errors"] == [{"code": 3040, "message": "Capacity temporarily exceeded"}]
    native = run(emu, QWEN3, {"prompt": "hi"})
    assert native.status_code == 429 and native.headers["Retry-After"] == "7"
    assert run(emu, QWEN3, {"prompt": "hi"}).status_code == 200
    emu.inject_error(status=503, code=3040, message="Overloaded")
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(emu.openai_base_url).chat.completions.create(model=LLAMA, **user("hi"))
    assert raised.value.status_code == 503 and raised.value.body["type"] == "server_error"


# --- knobs and capture -----------------------------------------------------------------------------------


def test_stream_usage_can_be_withheld_until_reset(emu: WorkersAIEmulator) -> None:
    body = {"model": LLAMA, "stream": True, "stream_options": {"include_usage": True}, **user("hi")}
    emu.set_openai_stream_usage(False)
    withheld = chunks_of(post(f"{emu.openai_base_url}/chat/completions", body))
    assert all(chunk["choices"] for chunk in withheld)
    emu.reset()
    restored = chunks_of(post(f"{emu.openai_base_url}/chat/completions", body))
    assert restored[-1]["choices"] == [] and restored[-1]["usage"]["total_tokens"] > 0


def test_latency_and_capture_apply(emu: WorkersAIEmulator) -> None:
    emu.set_latency(first_byte=0.3)
    started = time.monotonic()
    post(f"{emu.openai_base_url}/embeddings", {"model": BGE, "input": "x"})
    assert time.monotonic() - started >= 0.3
    captured = emu.last_request
    assert captured.path == "/openai/v1/embeddings" and captured.model == BGE
    assert captured.json == {"model": BGE, "input": "x"}
    post(f"{cloudflare_base(emu)}/chat/completions", {"model": QWQ, **user("hi")})
    assert emu.last_request.path == "/accounts/test-account/ai/v1/chat/completions"
    assert emu.last_request.model == QWQ


def test_the_http_control_twin_sets_the_new_knobs(emu: WorkersAIEmulator) -> None:
    control = f"http://127.0.0.1:{emu.port}/__emulator"
    assert requests.post(f"{control}/openai_stream_usage", json={"enabled": False}, timeout=10).json() == {"ok": True}
    body = {"model": LLAMA, "stream": True, "stream_options": {"include_usage": True}, **user("hi")}
    assert all(chunk["choices"] for chunk in chunks_of(post(f"{emu.openai_base_url}/chat/completions", body)))
    error = {"status": 503, "code": 3040, "message": "Busy", "retry_after": 4}
    assert requests.post(f"{control}/error", json=error, timeout=10).json() == {"ok": True}
    refused = post(f"{emu.openai_base_url}/completions", {"model": LLAMA, "prompt": "x"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "4"
    assert refused.json()["error"] == {"message": "Busy", "type": "server_error", "param": None, "code": None}
