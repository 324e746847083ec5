"""A client that leaves a stream closes the upstream connection at once, however early it leaves.

The emulator holds each stream open between events (set_latency(per_chunk=…)) and notices at once
when the gateway closes the connection, as a real server would; `open_streams` says how many it is
still writing. A stream left open would keep the upstream generating, and billing, for minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import usage_records
from django.test import Client

from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)

# Each event after the first comes this long after the one before: far beyond every deadline here.
HOLD_SECONDS = 60.0
DEADLINE_SECONDS = 5.0
ENDPOINTS = {
    "chat": ("/v1/chat/completions", {"model": "gpt-4", "messages": [{"role": "user", "content": "[[long]]"}]}),
    "completions": ("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "[[long]]"}),
}


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds it took for `condition` to hold; fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


def stream_body(endpoint: str) -> tuple[str, dict[str, Any]]:
    path, body = ENDPOINTS[endpoint]
    return path, {**body, "stream": True}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_response_closed_before_its_body_started_closes_the_upstream(api_key, routes, endpoint) -> None:  # type: ignore[no-untyped-def]
    # Over HTTP the server starts the body at once; in-process a response can be closed unread, and
    # an unstarted generator runs no code on close(): the upstream, opened before it, is closed anyway.
    routes.set_latency(per_chunk=HOLD_SECONDS)
    path, body = stream_body(endpoint)
    headers = {"Authorization": f"Bearer {api_key}"}
    response = Client().post(path, body, content_type="application/json", headers=headers)
    assert response.status_code == 200 and response.streaming
    wait_until(lambda: routes.open_streams == 1, DEADLINE_SECONDS, "the upstream stream opened")

    response.close()

    wait_until(lambda: routes.open_streams == 0, DEADLINE_SECONDS, "the upstream connection closed")
    assert routes.cut_streams == 1
    (record,) = usage_records(1)
    assert (record.streamed, record.client_disconnected) == (True, True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_client_gone_right_after_the_headers_closes_the_upstream_at_once(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes: WorkersAIEmulator, endpoint
) -> None:
    # The upstream sends its first event, then goes silent: the gateway's reader thread is blocked
    # reading it when the next keep-alive write (settings_test: every 0.5 s) finds the client gone.
    routes.set_latency(per_chunk=HOLD_SECONDS)
    path, body = stream_body(endpoint)
    response = requests.post(
        f"{gateway_url}{path}", json=body, headers={"Authorization": f"Bearer {api_key}"}, stream=True, timeout=30
    )
    assert response.status_code == 200
    wait_until(lambda: routes.open_streams == 1, DEADLINE_SECONDS, "the upstream stream opened")

    response.close()  # gone before reading a byte of the body

    wait_until(lambda: routes.open_streams == 0, DEADLINE_SECONDS, "the upstream connection closed")
    assert routes.cut_streams == 1
    (record,) = usage_records(1)
    assert (record.status, record.streamed, record.client_disconnected) == (200, True, True)
