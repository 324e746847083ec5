"""The usage ledger: exactly one record per request, whatever became of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, usage_records, wait_for_spool_drained
from django.test import Client

from gateway.access.auth import resolve_key
from gateway.accounting.entry import UsageEntry
from gateway.accounting.ledger import settle
from gateway.models import UsageRecord
from gateway.streams.settled import settled_stream

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def post(gateway_url: str, key: str | None, body: Any = None, path: str = CHAT_URL, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(f"{gateway_url}{path}", json=body, headers=headers, timeout=30, **kwargs)


def test_every_request_with_a_key_leaves_exactly_one_record_with_its_outcome(
    gateway_url, api_key, routes, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_BODY_BYTES = 2048
    seen: dict[str, tuple[int, str]] = {}  # x-request-id → (status, endpoint) as the client saw them

    def note(response: requests.Response, endpoint: str) -> None:
        seen[response.headers["x-request-id"]] = (response.status_code, endpoint)

    note(post(gateway_url, api_key, {"model": "gpt-4", "messages": HI}), "chat.completions")
    note(post(gateway_url, api_key, {"model": "gpt-4", "messages": []}), "chat.completions")  # 400
    refused = post(gateway_url, "sk-gw-wrong", {"model": "gpt-4", "messages": HI})  # 401: no record
    assert refused.status_code == 401
    note(post(gateway_url, api_key, {}, path="/v1/no/such/thing"), "unknown")  # 404
    note(
        requests.delete(f"{gateway_url}{CHAT_URL}", headers={"Authorization": f"Bearer {api_key}"}), "chat.completions"
    )
    big = {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 3000}]}
    note(post(gateway_url, api_key, big), "chat.completions")  # 413, before the view
    note(requests.get(f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {api_key}"}), "models")
    streamed = post(gateway_url, api_key, {"model": "gpt-4", "messages": HI, "stream": True}, stream=True)
    assert b"[DONE]" in streamed.content
    note(streamed, "chat.completions")
    routes.set_latency(per_chunk=0.05)
    left = post(
        gateway_url,
        api_key,
        {"model": "gpt-4", "messages": [{"role": "user", "content": "[[long]]"}], "stream": True},
        stream=True,
    )
    lines = left.iter_lines()
    [next(lines) for _ in range(4)]
    left.close()  # the client leaves mid-stream
    note(left, "chat.completions")
    routes.set_latency()
    miss, hit = (post(gateway_url, api_key, {"model": "gpt-4", "messages": HI, "temperature": 0}) for _ in range(2))
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    note(miss, "chat.completions")
    note(hit, "chat.completions")

    assert sorted(status for status, _ in seen.values()) == [200, 200, 200, 200, 200, 200, 400, 404, 405, 413]
    records = usage_records(len(seen))
    assert {record.request_id: (record.status, record.endpoint) for record in records} == seen
    by_id = {record.request_id: record for record in records}
    assert by_id[left.headers["x-request-id"]].client_disconnected is True
    assert [by_id[r.headers["x-request-id"]].cached for r in (miss, hit)] == [False, True]
    key_id = resolve_key(api_key).key_id
    assert all(record.api_key_id == key_id for record in records)


def test_a_refusal_before_the_view_records_its_error_code(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_BODY_BYTES = 2048
    post(gateway_url, api_key, {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 3000}]})
    post(gateway_url, None, {"model": "gpt-4", "messages": HI})
    requests.get(f"{gateway_url}/v1/nowhere", headers={"Authorization": f"Bearer {api_key}"})

    key_id = resolve_key(api_key).key_id
    records = sorted(usage_records(2), key=lambda record: record.status)
    assert [(r.status, r.error_code, r.endpoint) for r in records] == [
        (404, "unknown_url", "unknown"),
        (413, "request_too_large", "chat.completions"),
    ]  # the request without a key (401) left none
    # Refused before authentication ran, but with a valid key: the key owns the record.
    assert [r.api_key_id for r in records] == [key_id, key_id]


def test_paths_outside_v1_are_not_recorded(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(f"{gateway_url}/healthz").status_code == 200
    assert requests.get(f"{gateway_url}/nowhere").status_code == 404
    time.sleep(0.2)

    assert UsageRecord.objects.count() == 0


def test_a_stream_closed_before_its_first_byte_is_recorded_as_disconnected(api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # Over HTTP the server always starts the body; in-process, a response can be closed unread, so
    # the stream's generator never runs (nor its own settle).
    response = Client().post(
        CHAT_URL,
        {"model": "gpt-4", "messages": HI, "stream": True},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200 and response.streaming
    response.close()

    (record,) = usage_records(1)
    assert (record.status, record.streamed, record.client_disconnected) == (200, True, True)
    assert record.request_id == response["x-request-id"]
    assert record.public_model == "gpt-4"


def test_a_stream_without_a_final_usage_event_is_estimated_and_flagged(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.set_latency(per_chunk=0.05)
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "[[long]]"}], "stream": True}
    left = post(gateway_url, api_key, body, stream=True)
    lines = left.iter_lines()
    [next(lines) for _ in range(4)]
    left.close()  # gone before the upstream's usage event
    post(gateway_url, api_key, {"model": "gpt-4", "messages": HI, "stream": True}).close()

    estimated, reported = sorted(usage_records(2), key=lambda record: not record.client_disconnected)
    assert (estimated.usage_estimated, estimated.client_disconnected) == (True, True)
    assert estimated.prompt_tokens > 0 and estimated.completion_tokens > 0
    assert (reported.usage_estimated, reported.client_disconnected) == (False, False)


def test_a_second_settle_of_the_same_request_writes_nothing(routes) -> None:  # type: ignore[no-untyped-def]
    make_key("twice")
    entry = UsageEntry(request_id="req_twice", endpoint="chat.completions", principal=None, status=200)
    settle(entry)
    settle(entry)
    # Another entry under the same id (a bug elsewhere) loses to the first, without an error.
    settle(UsageEntry(request_id="req_twice", endpoint="chat.completions", principal=None, status=500))

    assert wait_for_spool_drained()
    assert [(r.request_id, r.status) for r in UsageRecord.objects.all()] == [("req_twice", 200)]


def test_a_model_name_longer_than_its_column_is_refused_and_still_recorded(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    too_long, with_nul = "m" * 300, "gpt\x004"
    answers = [post(gateway_url, api_key, {"model": name, "messages": HI}) for name in (too_long, with_nul)]
    answers.append(post(gateway_url, api_key, {"model": too_long, "input": "hi"}, path="/v1/moderations"))

    # A NUL is refused wherever it sits in a JSON body (gateway/http/input_limits.py), a name too.
    codes = ["invalid_model_name", "invalid_value", "invalid_model_name"]
    for answer, code in zip(answers, codes, strict=True):
        error = error_of(answer, 400)
        assert (error["param"], error["code"]) == ("model", code)
    records = usage_records(3)
    assert {record.request_id for record in records} == {answer.headers["x-request-id"] for answer in answers}
    assert {(record.status, record.error_code) for record in records} == {(400, code) for code in codes}


def test_what_a_record_cannot_hold_is_cut_not_lost(routes) -> None:  # type: ignore[no-untyped-def]
    entry = UsageEntry(
        request_id="req_long_names",
        endpoint="chat.completions",
        principal=None,
        public_model="m" * 300 + "\x00",
        upstream_model="@cf/\x00" + "u" * 300,
        error_code="e" * 100,
        status=400,
    )
    settle(entry)

    (record,) = usage_records(1)
    assert (record.public_model, record.upstream_model) == ("m" * 200, "@cf/" + "u" * 196)
    assert record.error_code == "e" * 64


def test_an_unexpected_error_mid_stream_is_recorded_as_a_server_error(routes) -> None:  # type: ignore[no-untyped-def]
    def frames() -> Iterator[bytes]:
        yield b'data: {"choices": []}\n\n'
        raise RuntimeError("a bug in the middle of a stream")

    entry = UsageEntry(request_id="req_broken_stream", endpoint="chat.completions", principal=None, streamed=True)
    sent = b"".join(settled_stream(frames(), entry, time.monotonic(), lambda: None))

    *_, last = sent.decode().strip().split("\n\n")
    assert json.loads(last.removeprefix("data: "))["error"]["code"] == "server_error"
    (record,) = usage_records(1)
    assert (record.status, record.error_code, record.client_disconnected) == (500, "server_error", False)


def test_the_writer_carries_on_when_redis_lost_the_spool(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # What a Redis restarted without persistence looks like: the stream and its consumer group gone.
    from gateway.accounting import counters, spool

    before = post(gateway_url, api_key, {"model": "gpt-4", "messages": HI})
    usage_records(1)  # the writer is reading the spool
    counters.redis().delete(spool.stream_key())
    after = post(gateway_url, api_key, {"model": "gpt-4", "messages": HI})

    records = usage_records(2)
    assert [record.request_id for record in records] == [r.headers["x-request-id"] for r in (before, after)]
