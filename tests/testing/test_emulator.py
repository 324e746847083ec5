"""The Workers AI emulator, spoken to over real HTTP with `requests` (no Django)."""

from __future__ import annotations

import base64
import http.client
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway.testing.emulator import WorkersAIEmulator
from gateway.testing.emulator.catalogue import MODELS

LLAMA = "@cf/meta/llama-3.1-8b-instruct-fp8"
VISION = "@cf/meta/llama-3.2-11b-vision-instruct"
QWEN3 = "@cf/qwen/qwen3-30b-a3b-fp8"
GPT_OSS = "@cf/openai/gpt-oss-120b"
AUTH = {"Authorization": "Bearer test-token"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}


@pytest.fixture
def emu() -> Iterator[WorkersAIEmulator]:
    with WorkersAIEmulator(account_id="test-account", token="test-token") as emulator:
        yield emulator


def run(emu: WorkersAIEmulator, model: str, body: Any, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    return requests.post(f"{emu.base_url}/accounts/test-account/ai/run/{model}", json=body, timeout=10, **kwargs)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}], **extra}


def sse_data(raw: bytes) -> list[str]:
    return [block.removeprefix("data: ") for block in raw.decode("utf-8").split("\n\n") if block]


def assert_bad_input(response: requests.Response, *needles: str) -> None:
    body = response.json()
    assert response.status_code == 400
    assert body["success"] is False and body["result"] == {}
    assert body["errors"][0]["code"] == 5006
    assert body["errors"][0]["message"].startswith("AiError: Bad input: ")
    for needle in needles:
        assert needle in body["errors"][0]["message"]


# --- envelope and auth -----------------------------------------------------------------------------


def test_it_wraps_a_chat_result_in_the_envelope(emu: WorkersAIEmulator) -> None:
    response = run(emu, LLAMA, chat("hi there", temperature=0, seed=7))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    prompt_tokens = math.ceil(len("Be brief.hi there") / 4) + 2 * 4
    assert response.json() == {
        "result": {
            "response": "Hello! You said: hi there",
            "tool_calls": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 5,
                "total_tokens": prompt_tokens + 5,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        },
        "success": True,
        "errors": [],
        "messages": [],
    }


def test_it_answers_the_prompt_form(emu: WorkersAIEmulator) -> None:
    result = run(emu, "@cf/meta/llama-3.2-3b-instruct", {"prompt": "write a haiku", "raw": True}).json()["result"]
    assert result["response"] == "Hello! You said: write a haiku"
    assert result["usage"]["prompt_tokens"] == math.ceil(13 / 4) + 4


@pytest.mark.parametrize(
    ("headers", "account", "status", "code"),
    [
        ({}, "test-account", 400, 9106),
        ({"Authorization": "Bearer nope"}, "test-account", 401, 10000),
        (AUTH, "other-account", 404, 7003),
    ],
)
def test_it_rejects_bad_credentials(
    emu: WorkersAIEmulator, headers: dict, account: str, status: int, code: int
) -> None:
    response = requests.post(
        f"{emu.base_url}/accounts/{account}/ai/run/{LLAMA}", json={"prompt": "x"}, headers=headers, timeout=10
    )
    assert response.status_code == status
    body = response.json()
    assert body["result"] is None and body["success"] is False and body["messages"] == []
    assert body["errors"][0]["code"] == code


def test_it_rejects_an_unknown_model(emu: WorkersAIEmulator) -> None:
    response = run(emu, "@cf/nobody/nothing", {"prompt": "x"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"code": 5007, "message": "No such model @cf/nobody/nothing or task"}]


def test_it_answers_unknown_paths_and_methods_with_envelopes(emu: WorkersAIEmulator) -> None:
    missing = requests.get(f"{emu.base_url}/accounts/test-account/ai/nothing", headers=AUTH, timeout=10)
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 7000
    v1_models = requests.get(f"{emu.base_url}/accounts/test-account/ai/v1/models", headers=AUTH, timeout=10)
    assert v1_models.status_code == 405 and v1_models.json()["errors"][0]["code"] == 7001
    wrong_method = requests.get(f"{emu.base_url}/accounts/test-account/ai/run/{LLAMA}", headers=AUTH, timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["result"] is None


# --- strict validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["topP", "stop", "n", "user", "tool_choice", "stream_options", "max_completion_tokens", "logit_bias"]
)
def test_it_rejects_keys_the_schema_does_not_list(emu: WorkersAIEmulator, key: str) -> None:
    assert_bad_input(run(emu, LLAMA, chat("hi", **{key: 1})), f"'{key}'")


def test_it_rejects_list_content_on_a_text_model(emu: WorkersAIEmulator) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert_bad_input(run(emu, LLAMA, body), "/messages/0/content", "array")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "oneOf"),
        ({"max_tokens": 5}, "oneOf"),
        ({"prompt": "a", "temperature": "hot"}, "/temperature"),
        ({"prompt": "a", "temperature": 5.5}, "/temperature"),
        ({"prompt": "a", "top_k": 51}, "/top_k"),
        ({"prompt": "a", "max_tokens": 1.5}, "/max_tokens"),
        ({"messages": [{"role": "developer", "content": "b"}]}, "/messages/0/role"),
        ({"messages": [{"role": "user", "content": "b", "extra": 1}]}, "'extra'"),
        ({"prompt": "a", "tools": [WEATHER_TOOL]}, "'tools'"),
        ({"prompt": "a", "response_format": {"type": "text"}}, "/response_format/type"),
    ],
)
def test_it_rejects_malformed_text_generation_input(emu: WorkersAIEmulator, body: dict, needle: str) -> None:
    assert_bad_input(run(emu, LLAMA, body), needle)


def test_it_rejects_a_body_that_is_not_json(emu: WorkersAIEmulator) -> None:
    response = requests.post(
        f"{emu.base_url}/accounts/test-account/ai/run/{LLAMA}", data=b"{nope", headers=AUTH, timeout=10
    )
    assert_bad_input(response, "JSON")


# --- vision --------------------------------------------------------------------------------------------


def test_the_vision_model_needs_the_licence_agreed_once(emu: WorkersAIEmulator) -> None:
    refused = run(emu, VISION, {"prompt": "describe"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == 5016 and "'agree'" in refused.json()["errors"][0]["message"]
    agreed = run(emu, VISION, {"prompt": "agree"})
    assert agreed.status_code == 200 and "agreeing" in agreed.json()["result"]["response"]
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ]
    }
    assert run(emu, VISION, body).json()["result"]["response"] == "Hello! You said: what is this?"


def test_the_vision_model_rejects_http_image_urls() -> None:
    with WorkersAIEmulator(vision_licence_agreed=True) as emu:
        body = {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}],
                }
            ]
        }
        assert_bad_input(run(emu, VISION, body), "/messages/0/content/0/image_url/url")
        assert run(emu, VISION, {"prompt": "hi", "image": [137, 80, 78, 71]}).status_code == 200


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


# --- other tasks ------------------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(emu: WorkersAIEmulator) -> None:
    result = run(emu, "@cf/baai/bge-small-en-v1.5", {"text": ["a", "b", "a"]}).json()["result"]
    assert result["shape"] == [3, 384] and result["pooling"] == "mean"
    assert result["data"][0] == result["data"][2] != result["data"][1]
    assert abs(sum(v * v for v in result["data"][1]) - 1.0) < 1e-9
    assert_bad_input(run(emu, "@cf/baai/bge-small-en-v1.5", {"text": ["x"] * 101}), "100")
    assert_bad_input(run(emu, "@cf/baai/bge-small-en-v1.5", {"text": ["x", ""]}), "/text/1")


def test_media_models_answer_well_formed_payloads(emu: WorkersAIEmulator) -> None:
    image = run(emu, "@cf/black-forest-labs/flux-1-schnell", {"prompt": "a cat", "steps": 4}).json()["result"]
    assert base64.b64decode(image["image"])[:3] == b"\xff\xd8\xff"
    assert_bad_input(run(emu, "@cf/black-forest-labs/flux-1-schnell", {"prompt": "a", "width": 512}), "'width'")
    audio = run(emu, "@cf/myshell-ai/melotts", {"prompt": "hello", "lang": "en"}).json()["result"]
    assert base64.b64decode(audio["audio"])[:2] == b"\xff\xfb"
    raw = requests.post(
        f"{emu.base_url}/accounts/test-account/ai/run/@cf/openai/whisper", data=b"\x00" * 10, headers=AUTH, timeout=10
    ).json()["result"]
    assert raw["text"] == "Emulated transcription of 10 bytes of audio." and raw["word_count"] == 7
    turbo = run(
        emu, "@cf/openai/whisper-large-v3-turbo", {"audio": base64.b64encode(b"abcd").decode(), "task": "translate"}
    ).json()["result"]
    assert turbo["text"] == "Emulated translation of 4 bytes of audio."
    assert turbo["transcription_info"]["language"] == "en"
    verdict = run(
        emu,
        "@cf/meta/llama-guard-3-8b",
        {"messages": [{"role": "user", "content": "[[unsafe]]"}], "response_format": {"type": "json_object"}},
    ).json()["result"]
    assert verdict["response"] == {"safe": False, "categories": ["S1"]}
    named = run(
        emu,
        "@cf/meta/llama-guard-3-8b",
        {"messages": [{"role": "user", "content": "[[unsafe:S10, s11]]"}], "response_format": {"type": "json_object"}},
    ).json()["result"]
    assert named["response"] == {"safe": False, "categories": ["S10", "S11"]}
    legacy = run(
        emu,
        "@cf/meta/llama-guard-3-8b",
        {
            "messages": [{"role": "user", "content": "[[legacy]] [[unsafe:S1,S9]]"}],
            "response_format": {"type": "json_object"},
        },
    ).json()["result"]
    assert legacy["response"] == "unsafe\nS1,S9"
    plain = run(emu, "@cf/meta/llama-guard-3-8b", {"messages": [{"role": "user", "content": "hello"}]}).json()
    assert plain["result"]["response"] == "safe"


# --- injection, latency, capture ---------------------------------------------------------------------


def test_injected_errors_answer_before_validation_the_given_number_of_times(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", times=2)
    for _ in range(2):
        refused = run(emu, LLAMA, {"bogus": True})
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        assert refused.json()["errors"] == [{"code": 3040, "message": "Capacity temporarily exceeded"}]
    assert run(emu, LLAMA, {"prompt": "hi"}).json()["success"] is True


def test_an_injected_error_can_target_one_model(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=500, code=3043, message="Internal", model=QWEN3)
    assert run(emu, LLAMA, {"prompt": "hi"}).status_code == 200
    assert run(emu, QWEN3, {"prompt": "hi"}).json()["errors"][0]["code"] == 3043
    assert run(emu, QWEN3, {"prompt": "hi"}).status_code == 200


def test_latency_delays_the_first_byte_and_each_event(emu: WorkersAIEmulator) -> None:
    emu.set_latency(first_byte=0.2)
    started = time.monotonic()
    run(emu, LLAMA, {"prompt": "hi"})
    assert time.monotonic() - started >= 0.2
    emu.set_latency(per_chunk=0.05)
    started = time.monotonic()
    events = sse_data(run(emu, LLAMA, {"prompt": "one two three", "stream": True}).content)
    assert time.monotonic() - started >= 0.05 * (len(events) - 1)
    emu.reset()
    started = time.monotonic()
    run(emu, LLAMA, {"prompt": "hi"})
    assert time.monotonic() - started < 0.2


def test_slow_pauses_mid_stream(emu: WorkersAIEmulator) -> None:
    response = run(emu, LLAMA, {"prompt": "[[slow]] hi", "stream": True}, stream=True)
    arrivals = []
    for line in response.iter_lines():
        if line:
            arrivals.append((time.monotonic(), line))
    gaps = [later[0] - earlier[0] for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) >= 1.9 and arrivals[-1][1] == b"data: [DONE]"


def test_it_captures_what_reached_it(emu: WorkersAIEmulator) -> None:
    run(emu, LLAMA, chat("first"))
    requests.get(
        f"{emu.base_url}/accounts/test-account/ai/models/search",
        params={"task": "Text Generation"},
        headers=AUTH,
        timeout=10,
    )
    first, second = emu.requests
    assert first.method == "POST" and first.model == LLAMA
    assert first.path == f"/accounts/test-account/ai/run/{LLAMA}"
    assert first.headers["authorization"] == "Bearer test-token"
    assert first.json == chat("first") and json.loads(first.body) == chat("first")
    assert second.query == {"task": "Text Generation"} and second.model is None
    assert emu.last_request == second


def test_a_connection_is_kept_alive_between_requests(emu: WorkersAIEmulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    for text in ("one", "two"):
        conn.request(
            "POST",
            f"/client/v4/accounts/test-account/ai/run/{LLAMA}",
            json.dumps({"prompt": text}),
            {**AUTH, "Content-Type": "application/json"},
        )
        reply = conn.getresponse()
        assert json.loads(reply.read())["result"]["response"] == f"Hello! You said: {text}"
    conn.close()


def test_stop_leaves_no_threads_behind() -> None:
    before = set(threading.enumerate())
    emu = WorkersAIEmulator().start()
    session = requests.Session()  # keeps an idle keep-alive connection open across stop()
    assert (
        session.post(
            f"{emu.base_url}/accounts/test-account/ai/run/{LLAMA}", json={"prompt": "hi"}, headers=AUTH, timeout=10
        ).status_code
        == 200
    )
    emu.stop()
    assert set(threading.enumerate()) - before == set()
    session.close()


# --- catalogue -------------------------------------------------------------------------------------------


def test_models_search_pages_through_the_catalogue(emu: WorkersAIEmulator) -> None:
    url = f"{emu.base_url}/accounts/test-account/ai/models/search"
    first = requests.get(url, headers=AUTH, timeout=10).json()
    assert first["success"] is True and len(first["result"]) == 20
    assert first["result_info"] == {"count": 20, "page": 1, "per_page": 20, "total_count": len(MODELS)}
    rest = requests.get(url, params={"page": 2}, headers=AUTH, timeout=10).json()
    names = [m["name"] for m in first["result"] + rest["result"]]
    assert sorted(names) == sorted(m.name for m in MODELS)
    fast = next(m for m in first["result"] if m["name"] == "@cf/meta/llama-3.3-70b-instruct-fp8-fast")
    props = {p["property_id"]: p["value"] for p in fast["properties"]}
    assert props["context_window"] == "24000" and props["function_calling"] == "true"
    assert isinstance(props["price"], list) and fast["task"]["name"] == "Text Generation"


def test_models_search_filters_by_task_and_text(emu: WorkersAIEmulator) -> None:
    url = f"{emu.base_url}/accounts/test-account/ai/models/search"
    embeddings = requests.get(url, params={"task": "Text Embeddings", "per_page": 2}, headers=AUTH, timeout=10).json()
    assert [m["task"]["name"] for m in embeddings["result"]] == ["Text Embeddings"] * 2
    assert embeddings["result_info"]["total_count"] == 4
    found = requests.get(url, params={"search": "gpt-oss"}, headers=AUTH, timeout=10).json()["result"]
    assert sorted(m["name"] for m in found) == ["@cf/openai/gpt-oss-120b", "@cf/openai/gpt-oss-20b"]
    assert {"property_id": "reasoning", "value": "true"} in found[0]["properties"]
    unauthorised = requests.get(url, timeout=10)
    assert unauthorised.status_code == 400 and unauthorised.json()["errors"][0]["code"] == 9106


def test_the_http_control_endpoints_mirror_the_python_api(emu: WorkersAIEmulator) -> None:
    control = emu.base_url.removesuffix("/client/v4") + "/__emulator"
    assert requests.post(
        f"{control}/error", json={"status": 429, "code": 3040, "message": "busy", "times": 1}, timeout=10
    ).json() == {"ok": True}
    assert run(emu, LLAMA, {"prompt": "hi"}).json()["errors"][0] == {"code": 3040, "message": "busy"}
    captured = requests.get(f"{control}/requests", timeout=10).json()
    assert captured[0]["model"] == LLAMA and captured[0]["body"] == {"prompt": "hi"}
    requests.post(f"{control}/latency", json={"first_byte": 0.15, "per_chunk": 0}, timeout=10)
    started = time.monotonic()
    run(emu, LLAMA, {"prompt": "hi"})
    assert time.monotonic() - started >= 0.15
    assert requests.post(f"{control}/reset", timeout=10).json() == {"ok": True}
    assert requests.get(f"{control}/requests", timeout=10).json() == []
    bad = requests.post(f"{control}/error", json={"code": 1}, timeout=10)
    assert bad.status_code == 400 and bad.json()["ok"] is False
