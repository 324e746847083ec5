"""200 streams whose clients leave at random points, on the production server command: every
upstream stream is closed within a second of the last client leaving, nothing leaks (sockets,
threads, database connections), each stream leaves one usage record marked disconnected, and
every reservation is settled.

Three rounds: pools grow until they plateau, and under load (a busy machine) the first round may
end before they have; measured after rounds 2 and 3, a leak grows again, a pool does not."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis
from django.conf import settings
from fault_stack import GatewayStack, eventually

from gateway.testing.emulator import WorkersAIEmulator

STREAMS = 200
SECOND = 1.0


@pytest.fixture
def stack(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[GatewayStack]:
    gateway = GatewayStack(fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path)
    yield gateway.start()
    gateway.stop()


async def _leave_a_stream(port: int, key: str, events: int, rude: bool) -> None:
    """Open a stream, read `events` of its events, then go: a close, or a reset when `rude`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"model":"gpt-4","stream":true,"messages":[{"role":"user","content":"[[long]]"}]}'
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    seen = 0
    while seen < events:
        line = await asyncio.wait_for(reader.readline(), 30)
        assert line, "the stream ended before the client left"
        seen += line.startswith(b"data: {")
    if rude:
        writer.transport.abort()  # RST: the gateway's next write fails at once
    else:
        writer.close()
        await writer.wait_closed()


async def _round(port: int, key: str, rng: random.Random) -> float:
    """STREAMS clients leaving after 0-12 events; the moment the last one left."""
    await asyncio.gather(*(_leave_a_stream(port, key, rng.randint(0, 12), rng.random() < 0.5) for _ in range(STREAMS)))
    return time.monotonic()


def _database_connections(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def _footprint(stack: GatewayStack) -> tuple[int, int]:
    (pid,) = stack.worker_pids()
    worker = psutil.Process(pid)
    return worker.num_fds(), worker.num_threads()


def test_two_hundred_clients_leaving_mid_stream_leave_nothing_behind(
    stack: GatewayStack, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key("--tpm", "100000000")
    upstream.set_latency(per_chunk=0.05)  # [[long]]: 400 events, 20 s: every client leaves early
    rng = random.Random(15)  # the same random points on every run
    footprints, cut_at, closed_within = [], [], []
    for done in (STREAMS, 2 * STREAMS, 3 * STREAMS):
        left = asyncio.run(_round(stack.port, key, rng))
        eventually(lambda: upstream.open_streams == 0, 10, "every upstream stream closed")
        closed_within.append(time.monotonic() - left)
        records = eventually(lambda expected=done: len(stack.records()) == expected and stack.records(), 30, "records")
        cut_at.append(upstream.cut_streams)
        footprints.append((*_footprint(stack), _database_connections(stack.database_url)))
        assert len(records) == done
        assert {(r["status"], r["streamed"], r["client_disconnected"]) for r in records} == {(200, True, True)}

    assert all(seconds < SECOND for seconds in closed_within), closed_within
    assert cut_at == [STREAMS, 2 * STREAMS, 3 * STREAMS]  # each upstream stream was cut, none ran to its end
    (fds_2, _, db_2), (fds_3, threads_3, db_3) = footprints[1:]
    assert fds_3 <= fds_2 + 5, footprints  # pools have grown by now; a leak would grow again
    # Greenlets, not threads: the main one and gevent's name-resolver pool (10 at most) are all.
    assert threads_3 <= 12, footprints
    assert db_3 <= db_2 + 2, footprints
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.zcard(stack.redis_key("ledger:leases:v1")) == 0  # every lease closed
    assert client.hlen(stack.redis_key("ledger:lease-data:v1")) == 0
    counted = sum(int(client.get(name) or 0) for name in client.keys(stack.redis_key("tpm:*")))
    used = sum(r["prompt_tokens"] + r["completion_tokens"] for r in stack.records())
    assert counted == used  # reservations corrected to what each stream used, none left held
