"""The Workers AI emulator, spoken to over real HTTP with `requests` (no Django)."""

from __future__ import annotations

import base64
import math

import pytest
import requests
from emulator_helpers import (
    AUTH,
    LLAMA,
    VISION,
    WEATHER_TOOL,
    assert_bad_input,
    chat,
    emu_fixture,  # noqa: F401
    run,
)

from gateway.testing.emulator import WorkersAIEmulator

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
