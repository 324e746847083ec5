"""The ledger under faults: exactly one record per request, and no reservation left charged.

Each test runs the production server command and the ledger writer on services of their own and
breaks one for real: Redis shut down while a stream settles, a worker killed with SIGKILL
mid-stream, Postgres shut down for a few seconds under load.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from fault_stack import DedicatedPostgres, DedicatedRedis, GatewayStack, eventually
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.emulator import WorkersAIEmulator

LEASE = "2"  # seconds: how long a dead worker's requests stay unrecorded


@pytest.fixture
def own_redis() -> Iterator[DedicatedRedis]:
    with DedicatedRedis.running() as server:
        yield server


@pytest.fixture
def stack(
    fresh_database: str,
    own_redis: DedicatedRedis,
    upstream: WorkersAIEmulator,
    tmp_path: Path,
) -> Iterator[GatewayStack]:
    gateway = GatewayStack(
        fresh_database, own_redis.url, upstream.base_url, tmp_path, GATEWAY_LEDGER_LEASE_SECONDS=LEASE
    ).start()
    yield gateway
    gateway.stop()


def counter_values(redis: DedicatedRedis, stack: GatewayStack) -> dict[str, int]:
    client = redis.client()
    names = client.keys(stack.redis_key("tpm:*")) + client.keys(stack.redis_key("quota:*"))
    return {name.decode(): int(client.get(name) or 0) for name in names}


def test_redis_shut_down_while_a_stream_settles(
    stack: GatewayStack, own_redis: DedicatedRedis, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key("--tpm", "100000", "--quota-tokens", "1000000")
    upstream.set_latency(per_chunk=0.01)
    stream = stack.chat(key, "[[long]]", stream=True, max_tokens=500)
    request_id = stream.headers["x-request-id"]
    lines = stream.iter_lines()
    assert next(lines).startswith(b"data: ")
    charged = counter_values(own_redis, stack)
    assert charged and all(value > 0 for value in charged.values())  # reserved while it runs

    own_redis.stop()  # the record must still be written, straight to Postgres
    rest = b"\n".join(lines)
    assert rest.rstrip().endswith(b"data: [DONE]")

    (record,) = eventually(stack.records, what="the record")
    assert (record["request_id"], record["status"], record["streamed"]) == (request_id, 200, True)
    assert record["completion_tokens"] > 0

    # Redis comes back with its append-only file: the reservation the settle could not hand back
    # is still there, with the request's lease, which the writer reaps and releases.
    own_redis.start()
    eventually(lambda: own_redis.client().exists(stack.redis_key(f"ledger:reaped:v1:{request_id}")), what="reap")
    assert set(counter_values(own_redis, stack).values()) == {0}
    eventually(lambda: own_redis.client().xlen(stack.redis_key("ledger:spool:v1")) == 0, what="spool drained")
    assert [(r["request_id"], r["status"]) for r in stack.records()] == [(request_id, 200)]


def test_a_worker_killed_mid_stream_leaves_an_interrupted_record_and_no_charge(
    stack: GatewayStack, own_redis: DedicatedRedis, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key("--tpm", "100000", "--quota-tokens", "1000000")
    assert stack.chat(key).status_code == 200  # a finished request, recorded as usual
    eventually(stack.records, what="the first record")
    upstream.set_latency(per_chunk=0.2)
    stream = stack.chat(key, "[[long]]", stream=True, max_tokens=500)
    request_id = stream.headers["x-request-id"]
    lines = stream.iter_lines()
    assert next(lines).startswith(b"data: ")
    assert any(value > 0 for value in counter_values(own_redis, stack).values())

    (worker,) = stack.worker_pids()
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for _ in lines:
            pass

    def interrupted() -> list[dict]:
        return [record for record in stack.records() if record["request_id"] == request_id]

    (record,) = eventually(interrupted, seconds=float(LEASE) + 15, what="the interrupted record")
    assert (record["status"], record["error_code"]) == (500, "interrupted")
    assert record["api_key_id"] is not None
    # What stays charged is exactly what the first, finished request used: the killed one's
    # reservation is gone from the per-minute window and from the budget.
    (first,) = [record for record in stack.records() if record["request_id"] != request_id]
    used = first["prompt_tokens"] + first["completion_tokens"]
    assert sorted(counter_values(own_redis, stack).values()) == [used, used]


def spooled(stack: GatewayStack) -> float:
    families = text_string_to_metric_families(requests.get(f"{stack.url}/metrics", timeout=10).text)
    (family,) = [family for family in families if family.name == "gateway_ledger_spooled_records"]
    return family.samples[0].value if family.samples else 0


def test_postgres_shut_down_under_load_loses_no_record(
    own_redis: DedicatedRedis, upstream: WorkersAIEmulator, tmp_path: Path
) -> None:
    postgres = DedicatedPostgres()
    stack = GatewayStack(postgres.url, own_redis.url, upstream.base_url, tmp_path).start()
    try:
        key = stack.issue_key("--quota-tokens", "100000000")
        warm = stack.chat(key)  # the key and its budget are now in Redis: requests need no database
        seen: list[tuple[str, int]] = [(warm.headers["x-request-id"], warm.status_code)]
        done = threading.Event()

        def client() -> None:
            while not done.is_set():
                answer = stack.chat(key, stream=len(seen) % 2 == 0)
                answer.content  # noqa: B018 (read the whole body, streams included)
                seen.append((answer.headers["x-request-id"], answer.status_code))

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        eventually(lambda: len(seen) > 20, what="load")
        postgres.stop()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres.url, connect_timeout=2)
        stopped_at = len(seen)
        eventually(lambda: len(seen) > stopped_at + 40, what="requests served while Postgres is down")
        # Their records wait in the spool, which /metrics shows.
        eventually(lambda: spooled(stack) > 0, what="records waiting in the spool")
        postgres.start()
        restarted_at = len(seen)
        eventually(lambda: len(seen) > restarted_at + 20, what="requests served after the restart")
        done.set()
        for thread in clients:
            thread.join(timeout=30)

        assert {status for _, status in seen} == {200}
        records = eventually(lambda: (found := stack.records()) and len(found) >= len(seen) and found, seconds=60,
                             what="every record")  # fmt: skip
        ids = [record["request_id"] for record in records]
        assert len(ids) == len(set(ids)) == len(seen)
        assert set(ids) == {request_id for request_id, _ in seen}
        # The budget holds what the records say was used: every reservation settled to real usage.
        used = sum(record["prompt_tokens"] + record["completion_tokens"] for record in records)
        assert list(counter_values(own_redis, stack).values()) == [used]
    finally:
        stack.stop()
        postgres.destroy()


def test_a_budget_rebuilt_while_records_wait_in_the_spool_counts_them(
    stack: GatewayStack, own_redis: DedicatedRedis
) -> None:
    key = stack.issue_key("--quota-tokens", "1000")
    writer = stack.processes["writer"]
    writer.terminate()
    writer.wait(timeout=30)
    spent = stack.chat(key, "[[long]]", max_tokens=500)
    assert spent.status_code == 200
    used = spent.json()["usage"]["total_tokens"]
    assert used > 300
    eventually(lambda: own_redis.client().xlen(stack.redis_key("ledger:spool:v1")) == 1, what="the spooled record")
    (budget,) = own_redis.client().keys(stack.redis_key("quota:*"))
    own_redis.client().delete(budget)  # Redis lost the counter: it is rebuilt from the ledger

    # The database has no record yet; the spool does. Counted, it leaves too little for 700 more.
    refused = stack.chat(key, max_tokens=700)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert int(own_redis.client().get(budget)) == used
    assert stack.records() == []
