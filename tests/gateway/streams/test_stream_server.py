"""Streams on the production server command (gunicorn's gevent workers, config/gunicorn.conf.py),
where the upstream is read on a greenlet and handed over gevent's queue
(gateway/streams/keepalive.py): keep-alives fill an upstream's silence, and a client that leaves
closes the upstream at once and leaves one usage record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from fault_stack import GatewayStack, eventually

from gateway.testing.emulator import WorkersAIEmulator

DEADLINE_SECONDS = 5.0


@pytest.fixture
def stack(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[GatewayStack]:
    gateway = GatewayStack(
        fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path, GATEWAY_SSE_KEEPALIVE_SECONDS="0.5"
    )
    yield gateway.start()
    gateway.stop()


def test_the_server_runs_gevent_workers(stack: GatewayStack) -> None:
    assert "Using worker: gevent" in stack.log("gunicorn")  # what the tests below exercise


def test_keepalives_fill_an_upstream_silence_on_the_server(stack: GatewayStack) -> None:
    key = stack.issue_key()
    # [[slow]]: the emulator pauses 2 s after its first event, four keep-alive intervals.
    with stack.chat(key, "hi [[slow]]", stream=True) as response:
        raw = b"".join(response.iter_content(chunk_size=None)).decode()
    assert response.status_code == 200
    assert raw.count(": ping\n\n") >= 2 and raw.index(": ping") < raw.index("data: [DONE]")
    content = "".join(
        line.split('"content":"', 1)[1].split('"', 1)[0] for line in raw.splitlines() if '"content":"' in line
    )
    assert content == "Hello! You said: hi [[slow]]"


def test_a_client_leaving_mid_stream_closes_the_upstream_on_the_server(
    stack: GatewayStack, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key()
    upstream.set_latency(per_chunk=0.2)  # [[long]]: 400 events, 80 s at this pace
    response = stack.chat(key, "[[long]]", stream=True)
    lines = response.iter_lines()
    assert next(line for line in lines if line.startswith(b"data: {"))  # the stream is under way
    # The first chunk (its role) can reach the client before the emulator's thread counts its stream.
    eventually(lambda: upstream.open_streams == 1, 5, "the upstream stream counted open")
    response.close()
    left = time.monotonic()

    eventually(lambda: upstream.open_streams == 0, DEADLINE_SECONDS, "the upstream connection closed")
    assert time.monotonic() - left < DEADLINE_SECONDS and upstream.cut_streams == 1
    (record,) = eventually(lambda: stack.records() or None, 20, "the usage record stored")
    assert (record["status"], record["streamed"], record["client_disconnected"]) == (200, True, True)
