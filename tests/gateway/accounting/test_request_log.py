"""The request log: one JSON line per request on "gateway.requests", naming it without its content."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_PROMPT = "the vault combination is platypus-7431"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.lines.append(record.getMessage())

    def for_request(self, request_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The parsed lines naming request_id, once `count` are in (settle runs after the answer)."""
        deadline = time.monotonic() + 10
        while True:
            with self._lock:
                mine = [line for line in self.lines if request_id in line]
            if len(mine) >= count or time.monotonic() > deadline:
                time.sleep(0.1)  # long enough for a second, wrongly written line to show up
                with self._lock:
                    mine = [line for line in self.lines if request_id in line]
                assert len(mine) == count, mine
                return [json.loads(line) for line in mine]
            time.sleep(0.02)


@pytest.fixture
def request_lines() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("gateway.requests")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def post_chat(gateway_url: str, api_key: str, model: str = "gpt-4", **fields: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": model, "messages": [{"role": "user", "content": SECRET_PROMPT}], **fields},
        timeout=30,
    )


def test_it_writes_one_line_per_request(gateway_url, api_key, request_lines) -> None:  # type: ignore[no-untyped-def]
    response = post_chat(gateway_url, api_key)
    assert response.status_code == 200

    [line] = request_lines.for_request(response.headers["x-request-id"])

    assert line["request_id"] == response.headers["x-request-id"]
    assert line["key_prefix"] == api_key[:14]
    assert line["endpoint"] == "chat.completions"
    assert (line["model"], line["upstream_model"]) == ("gpt-4", "@cf/meta/llama-3.3-70b-instruct-fp8-fast")
    assert (line["status"], line["error_code"]) == (200, "")
    usage = response.json()["usage"]
    assert (line["prompt_tokens"], line["completion_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert line["latency_ms"] >= line["upstream_latency_ms"] >= 0
    assert (line["streamed"], line["cached"], line["ttft_ms"]) == (False, False, None)


def test_it_never_logs_the_prompt_the_answer_or_the_key(gateway_url, api_key, request_lines) -> None:  # type: ignore[no-untyped-def]
    response = post_chat(gateway_url, api_key)
    answer = response.json()["choices"][0]["message"]["content"]
    request_lines.for_request(response.headers["x-request-id"])

    logged = "\n".join(request_lines.lines)
    assert "platypus" not in logged and "vault" not in logged
    assert answer not in logged
    assert api_key not in logged and api_key[14:] not in logged


def test_streams_and_refusals_get_their_line_too(gateway_url, api_key, request_lines) -> None:  # type: ignore[no-untyped-def]
    streamed = post_chat(gateway_url, api_key, stream=True)
    refused = post_chat(gateway_url, api_key, model="no-such-model")
    assert streamed.status_code == 200 and refused.status_code == 404

    [stream_line] = request_lines.for_request(streamed.headers["x-request-id"])
    [refused_line] = request_lines.for_request(refused.headers["x-request-id"])

    assert stream_line["streamed"] is True and stream_line["ttft_ms"] is not None
    assert stream_line["completion_tokens"] > 0
    assert (refused_line["status"], refused_line["error_code"]) == (404, "model_not_found")
    assert refused_line["upstream_latency_ms"] is None


def test_the_log_prompts_setting_adds_a_prompt_excerpt(gateway_url, api_key, request_lines, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_LOG_PROMPTS = True
    response = post_chat(gateway_url, api_key)

    [line] = request_lines.for_request(response.headers["x-request-id"])

    assert SECRET_PROMPT in line["prompt"]
    assert len(line["prompt"]) <= 500
    assert api_key not in json.dumps(line)
