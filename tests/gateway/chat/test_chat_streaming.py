"""Stream behaviour over time: keep-alives, first-byte latency, client disconnects, mid-stream errors."""

from __future__ import annotations

import json
import time

import pytest
import requests

from gateway.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


def open_stream(gateway_url: str, key: str, content: str, model: str = "gpt-4") -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": content}], "stream": True},
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    )


def wait_for_record(**filters: object) -> UsageRecord:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        record = UsageRecord.objects.filter(**filters).first()
        if record is not None:
            return record
        time.sleep(0.05)
    raise AssertionError(f"no usage record matching {filters}")


def test_keepalive_comments_fill_long_upstream_silences(gateway_url, api_key, routes, openai_client) -> None:  # type: ignore[no-untyped-def]
    # settings_test sets GATEWAY_SSE_KEEPALIVE_SECONDS = 0.5; [[slow]] pauses the upstream 2 s.
    raw = open_stream(gateway_url, api_key, "hi [[slow]]").content.decode()
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "hi [[slow]]"}], stream=True
        )
    )

    assert ": ping\n\n" in raw
    assert raw.index(": ping") < raw.index("[DONE]")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! You said: hi [[slow]]"


def test_the_first_content_byte_is_not_held_back(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.set_latency(per_chunk=0.4)  # five upstream events, 0.4 s apart
    started = time.monotonic()
    first_content_at = None
    with open_stream(gateway_url, api_key, "hi") as response:
        for line in response.iter_lines():
            if first_content_at is None and line.startswith(b"data: {") and b'"content":"Hello' in line:
                first_content_at = time.monotonic() - started
        finished_at = time.monotonic() - started

    assert first_content_at is not None
    assert finished_at - first_content_at >= 1.0  # the rest of the stream was still to come


def test_a_client_that_leaves_mid_stream_still_leaves_a_usage_record(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.set_latency(per_chunk=0.05)
    response = open_stream(gateway_url, api_key, "[[long]]")
    lines = response.iter_lines()
    received = [next(lines) for _ in range(6)]
    response.close()  # the client goes away after a few events

    record = wait_for_record(streamed=True)
    assert any(b'"content"' in line for line in received)
    assert record.client_disconnected is True
    assert record.status == 200
    assert 0 < record.completion_tokens < 400
    assert UsageRecord.objects.count() == 1


def test_an_upstream_error_mid_stream_arrives_as_an_error_event(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # The emulator cuts nothing mid-stream by itself, so stop the provider's read with a timeout:
    # the stream starts, then the upstream goes silent beyond the provider's read timeout.
    from gateway.models import Provider

    provider = Provider.objects.get(name="workers-ai")
    provider.read_timeout = 1
    provider.save()
    raw = open_stream(gateway_url, api_key, "hi [[slow]]").content.decode()

    events = [block[len("data: ") :] for block in raw.split("\n\n") if block.startswith("data: {")]
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_timeout"
    assert "[DONE]" not in raw
    record = wait_for_record(streamed=True)
    assert record.status == 504 and record.error_code == "upstream_timeout"
