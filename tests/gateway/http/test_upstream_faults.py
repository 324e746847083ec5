"""A broken upstream, as clients see it (README "Failure policy"): a connection dropped before the
answer or cut part-way through it, an answer or a stream event that is not JSON, and storms of
5xx and 429 answers. Every fault is an OpenAI envelope (or, once a stream has begun, an `error`
event and no [DONE]), never a 500; each request leaves one usage record and no reservation.

The faults are the emulator's (inject_fault, inject_error): real sockets closed, real bytes sent.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from conftest import PERSISTENT, error_of, make_key, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]
LONG = [{"role": "user", "content": "[[long]]"}]
BUDGETED = "faults"


def chat(gateway_url: str, key: str, **body: Any) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def stream_blocks(response: requests.Response) -> list[str]:
    """The SSE body's blocks (keep-alive comments left out), checked to be well formed."""
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    text = response.content.decode()
    assert text.endswith("\n\n")  # the stream ended cleanly, on a block boundary
    return [block for block in text.split("\n\n") if block and not block.startswith(":")]


def charged() -> int:
    """The budgeted key's token budget counter in Redis: what admission reserved, settled to what
    was used. (Its TPM counter settles in the same script; a minute's window could split it.)"""
    from django.core.cache import cache

    from gateway.accounting.counters import redis
    from gateway.models import ApiKey

    key_id = ApiKey.objects.get(name=BUDGETED).id
    client = redis()
    (name,) = client.scan_iter(match=cache.make_key(f"quota:{key_id}:tokens:*"))
    return int(client.get(name) or 0)


def budgeted_key() -> str:
    return make_key(BUDGETED, tpm_limit=100_000, quota_tokens=1_000_000, quota_period="day")


# --- the connection dropped -----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_connection_dropped_before_the_answer_is_a_502_after_one_retry(gateway_url, routes, stream) -> None:  # type: ignore[no-untyped-def]
    key = budgeted_key()
    routes.inject_fault("drop", times=PERSISTENT)

    response = chat(gateway_url, key, stream=stream)

    error = error_of(response, 502)
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert "Retry-After" not in response.headers
    assert len(routes.requests) == 2  # the first attempt and GATEWAY_UPSTREAM_RETRIES' one
    (record,) = usage_records(1)
    assert (record.status, record.error_code, record.attempts) == (502, "upstream_unavailable", 2)
    assert charged() == 0  # the reservation handed back


def test_a_stream_cut_mid_way_ends_with_an_error_event_and_one_settled_record(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = budgeted_key()
    routes.inject_fault("cut", after_events=5)

    blocks = stream_blocks(chat(gateway_url, key, messages=LONG, stream=True, max_tokens=300))

    payloads = [json.loads(block.removeprefix("data: ")) for block in blocks]
    assert all(block.startswith("data: {") for block in blocks)  # no [DONE]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1] if p.get("choices"))
    assert text.startswith(" word1 word2") or text.startswith("word1 word2")
    error = payloads[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert len(routes.requests) == 1  # never retried once a byte went to the client
    (record,) = usage_records(1)
    assert (record.status, record.error_code, record.streamed) == (502, "upstream_error", True)
    assert record.usage_estimated and record.completion_tokens > 0  # what was sent is counted
    used = record.prompt_tokens + record.completion_tokens
    assert charged() == used  # reserved max_tokens, settled to what was used


def test_a_whole_answer_cut_mid_way_is_a_502(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_fault("cut", times=PERSISTENT)

    error = error_of(chat(gateway_url, make_key()), 502)

    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "broke off" in error["message"]
    assert len(routes.requests) == 2
    assert usage_records(1)[0].status == 502


# --- answers that are not what they say ----------------------------------------------------------


def test_an_answer_that_is_not_json_is_a_502_not_a_500(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_fault("malformed", times=PERSISTENT)

    response = chat(gateway_url, make_key())

    error = error_of(response, 502)
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "not JSON" in error["message"]
    assert len(routes.requests) == 2  # an upstream error: retried once, as a 5xx is
    (record,) = usage_records(1)
    assert (record.status, record.error_code, record.attempts) == (502, "upstream_error", 2)


def test_a_stream_event_that_is_not_json_ends_the_stream_with_an_error_event(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = budgeted_key()
    routes.inject_fault("malformed", after_events=3)

    blocks = stream_blocks(chat(gateway_url, key, messages=LONG, stream=True, max_tokens=300))

    assert "data: [DONE]" not in blocks
    error = json.loads(blocks[-1].removeprefix("data: "))["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "unreadable stream event" in error["message"]
    (record,) = usage_records(1)
    assert (record.status, record.streamed) == (502, True)
    assert charged() == record.prompt_tokens + record.completion_tokens


def test_a_first_stream_event_that_is_not_json_is_not_retried_once_the_headers_are_in(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_fault("malformed", after_events=0, times=PERSISTENT)

    blocks = stream_blocks(chat(gateway_url, make_key(), stream=True))

    # The role chunk leaves with the upstream's headers; the unreadable event that follows ends it.
    assert len(blocks) == 2
    assert json.loads(blocks[0].removeprefix("data: "))["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(blocks[1].removeprefix("data: "))["error"]["code"] == "upstream_error"
    assert len(routes.requests) == 1
    assert usage_records(1)[0].status == 502


# --- storms --------------------------------------------------------------------------------------


def storm(gateway_url: str, key: str, count: int = 12) -> list[requests.Response]:
    """`count` chats, 4 at a time, half of them streamed."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda i: chat(gateway_url, key, stream=i % 2 == 1), range(count)))


def test_a_5xx_storm_answers_502_envelopes_cools_the_route_then_serves_again(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.catalog import cooldown
    from gateway.models import ModelRoute

    key = budgeted_key()
    routes.inject_error(500, 3043, "Internal server error", times=1000)

    answers = storm(gateway_url, key)

    for response in answers:
        error = error_of(response, 502)
        assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
        assert "Retry-After" not in response.headers
    route = ModelRoute.objects.get(public_name="gpt-4", task="chat")
    assert cooldown.cooling([route.id])  # the failures cooled the route, shared in Redis
    # Every request made one attempt, or two before the route cooled: no request hammered it.
    assert len(answers) <= len(routes.requests) < 2 * len(answers)

    routes.reset()  # the storm ends: the cooling route is still tried, as gpt-4's only route
    assert chat(gateway_url, key).status_code == 200
    records = usage_records(len(answers) + 1)
    assert sorted(record.status for record in records) == [200] + [502] * len(answers)
    used = sum(record.prompt_tokens + record.completion_tokens for record in records)
    assert charged() == used


def test_a_429_storm_answers_429_with_retry_after_at_once_then_serves_again(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = budgeted_key()
    # A Retry-After past GATEWAY_UPSTREAM_MAX_WAIT_SECONDS: no retry is worth its wait.
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", times=1000, retry_after=30)

    answers = storm(gateway_url, key)

    for response in answers:
        error = error_of(response, 429)
        assert (error["type"], error["code"]) == ("rate_limit_exceeded", "upstream_rate_limited")
        assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert len(routes.requests) == len(answers)  # one attempt each, none held asleep

    routes.reset()
    assert chat(gateway_url, key).status_code == 200
    records = usage_records(len(answers) + 1)
    assert sorted(record.status for record in records) == [200] + [429] * len(answers)
    assert charged() == sum(r.prompt_tokens + r.completion_tokens for r in records)
