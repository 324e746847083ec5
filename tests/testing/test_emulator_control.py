"""The Workers AI emulator over real HTTP: other tasks, injection/latency/capture, catalogue, control."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time

import requests
from emulator_helpers import (
    AUTH,
    LLAMA,
    QWEN3,
    assert_bad_input,
    chat,
    emu_fixture,  # noqa: F401
    run,
    sse_data,
)

from gateway.testing.emulator import WorkersAIEmulator
from gateway.testing.emulator.catalogue import MODELS

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
    # Speech (Whisper, MeloTTS, Aura) has its own module: test_emulator_audio.py.
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
    assert embeddings["result_info"]["total_count"] == 5
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
