"""Shared constants, fixture and helpers for the Workers AI emulator tests (test_emulator*.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway.testing.emulator import WorkersAIEmulator

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


@pytest.fixture(name="emu")
def emu_fixture() -> Iterator[WorkersAIEmulator]:
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
