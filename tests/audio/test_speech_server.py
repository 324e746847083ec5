"""POST /v1/audio/speech on the production server command (gunicorn gthread, tests/fault_stack.py):
the audio leaves chunked as the upstream makes it, a client that leaves closes the upstream, and
each request has exactly one usage record.

Aura answers its audio in about eight chunks, paced by the emulator's per-chunk latency; MP3 asked
of an MP3 upstream passes through, so each chunk can leave as soon as it arrives.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import psycopg
import pytest
import requests
from django.conf import settings
from fault_stack import GatewayStack, eventually

from gateway.testing.emulator import WorkersAIEmulator

AURA_1 = "@cf/deepgram/aura-1"
TEXT = "Streaming speech leaves the gateway while the upstream is still talking"  # eleven words: 4.4 s


@pytest.fixture
def stack(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[GatewayStack]:
    gateway = GatewayStack(fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def records(stack: GatewayStack) -> list[dict[str, Any]]:
    """The stack's usage records, with the columns speech fills."""
    with psycopg.connect(stack.database_url) as conn:
        cursor = conn.execute(
            "SELECT request_id, endpoint, public_model, upstream_model, status, streamed, client_disconnected, "
            "characters, audio_seconds FROM gateway_usagerecord ORDER BY id"
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def speak(stack: GatewayStack, key: str) -> requests.Response:
    return requests.post(
        f"{stack.url}/v1/audio/speech",
        json={"model": AURA_1, "input": TEXT, "voice": "echo", "response_format": "mp3"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        stream=True,
    )


def decoded_seconds(data: bytes) -> float:
    samples = rate = 0
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    assert rate, "nothing decoded"
    return samples / rate


def test_the_audio_leaves_chunked_before_the_upstream_has_finished(
    stack: GatewayStack, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key()
    upstream.set_latency(per_chunk=0.3)  # seven pauses between Aura's eight chunks: about 2.1 s

    started = time.monotonic()
    with speak(stack, key) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "audio/mpeg"
        assert answer.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in answer.headers
        first = answer.raw.read(1)
        first_byte = time.monotonic() - started
        body = first + answer.raw.read()
        total = time.monotonic() - started

    assert first_byte < total - 1.0, (first_byte, total)  # the first bytes left while the rest was being made
    assert body[:1] == b"\xff" and body[1] & 0xE0 == 0xE0  # Aura's MP3 starts with a frame sync
    assert decoded_seconds(body) == pytest.approx(0.4 * len(TEXT.split()), abs=0.15)
    assert upstream.last_request.json == {"text": TEXT, "speaker": "orion"}


def test_a_completed_stream_has_one_record(stack: GatewayStack, upstream: WorkersAIEmulator) -> None:
    key = stack.issue_key()

    with speak(stack, key) as answer:
        assert answer.status_code == 200
        request_id = answer.headers["x-request-id"]
        body = answer.raw.read()
    assert decoded_seconds(body) > 4

    (record,) = eventually(lambda: records(stack), what="the usage record")
    assert record["request_id"] == request_id
    assert record["endpoint"] == "audio.speech"
    assert (record["public_model"], record["upstream_model"]) == (AURA_1, AURA_1)
    assert (record["status"], record["streamed"], record["client_disconnected"]) == (200, True, False)
    assert (record["characters"], record["audio_seconds"]) == (len(TEXT), 0)
    assert upstream.cut_streams == 0


def test_a_client_that_leaves_mid_stream_closes_the_upstream(stack: GatewayStack, upstream: WorkersAIEmulator) -> None:
    key = stack.issue_key()
    upstream.set_latency(per_chunk=1.0)  # seven seconds of audio still to come when the client leaves

    answer = speak(stack, key)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    assert answer.raw.read(1024)  # the stream is under way
    eventually(lambda: upstream.open_streams == 1, what="the upstream stream being open")
    left = time.monotonic()
    answer.close()  # drops the connection mid-body

    eventually(lambda: upstream.cut_streams == 1, seconds=5, what="the upstream connection closing")
    assert time.monotonic() - left < 5
    assert upstream.open_streams == 0
    (record,) = eventually(lambda: records(stack), what="the usage record")
    assert record["request_id"] == request_id
    assert (record["endpoint"], record["status"], record["client_disconnected"]) == ("audio.speech", 200, True)
    assert record["characters"] == len(TEXT)
    assert len(upstream.requests) == 1
