"""A Celery broker of its own (GATEWAY_CELERY_BROKER_URL) stopped while the gateway's Redis answers:
requests are admitted and their rows made, then the tasks cannot be queued (gateway/job_queue.py).

The rows must not wait for ever for a task that never comes. Image jobs end failed with
`service_unavailable` and the client gets a 503 with Retry-After; a vector store's files end failed
with OpenAI's `server_error` in an answer otherwise as usual. Each request keeps its one usage
record. A hung broker is given up on within its socket timeouts. On the production server command
(tests/fault_stack.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests
from fault_stack import DedicatedRedis, GatewayStack, eventually

from gateway.testing.emulator import WorkersAIEmulator


@pytest.fixture
def own_redis() -> Iterator[DedicatedRedis]:
    with DedicatedRedis.running() as server:
        yield server


@pytest.fixture
def broker() -> Iterator[DedicatedRedis]:
    """The broker apart from the gateway's Redis, to be stopped alone."""
    with DedicatedRedis.running() as server:
        yield server


@pytest.fixture
def stack(
    fresh_database: str, own_redis: DedicatedRedis, broker: DedicatedRedis, upstream: WorkersAIEmulator, tmp_path: Path
) -> Iterator[GatewayStack]:
    gateway = GatewayStack(
        fresh_database,
        own_redis.url,
        upstream.base_url,
        tmp_path,
        GATEWAY_CELERY_BROKER_URL=broker.url,
        GATEWAY_CELERY_QUEUE=f"job-queue-{uuid.uuid4().hex}",
        DATA_DIR=str(tmp_path / "data"),
    )
    try:
        yield gateway.start()
    finally:
        gateway.stop()


def query(stack: GatewayStack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(sql, params).fetchall()


def records_of(stack: GatewayStack, request_id: str) -> list[tuple[Any, ...]]:
    return query(stack, "SELECT status, error_code, images FROM gateway_usagerecord WHERE request_id = %s", request_id)


def post(stack: GatewayStack, key: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return requests.post(f"{stack.url}{path}", headers=headers, timeout=60, **kwargs)


IMAGE = {"model": "dall-e-2", "prompt": "a lighthouse at dusk", "size": "256x256"}
ASYNC = {"Prefer": "respond-async"}


def test_image_jobs_that_cannot_be_queued_end_failed_and_bill_nothing(
    stack: GatewayStack, broker: DedicatedRedis
) -> None:
    key = stack.issue_key()
    broker.stop()  # the gateway's own Redis still answers: the request is admitted and its jobs made

    answer = post(stack, key, "/v1/images/generations", json={**IMAGE, "n": 2}, headers=ASYNC)

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["code"] == "service_unavailable"
    request_id = answer.headers["x-request-id"]
    jobs = query(
        stack,
        "SELECT j.status, j.error_code FROM images_imagejob j JOIN images_imagerequest r ON r.id = j.request_id "
        "WHERE r.request_id = %s",
        request_id,
    )
    assert jobs == [("failed", "service_unavailable")] * 2  # not `queued` for ever
    (record,) = eventually(lambda: records_of(stack, request_id), 15, "the request's record")
    assert record == (503, "service_unavailable", 0)

    broker.start()
    assert post(stack, key, "/v1/images/generations", json=IMAGE, headers=ASYNC).status_code == 202
    assert len(records_of(stack, request_id)) == 1


def test_vector_store_files_that_cannot_be_queued_show_failed(stack: GatewayStack, broker: DedicatedRedis) -> None:
    key = stack.issue_key()
    uploaded = post(
        stack, key, "/v1/files", files={"file": ("cats.txt", b"Cats sleep most of the day.", "text/plain")},
        data={"purpose": "assistants"},
    )  # fmt: skip
    assert uploaded.status_code == 200, uploaded.text
    broker.stop()  # files and stores live in Postgres: only the embedding tasks need the broker

    answer = post(stack, key, "/v1/vector_stores", json={"file_ids": [uploaded.json()["id"]]})

    # As OpenAI's stores do: the store is made, and its file says why it is not searchable.
    assert answer.status_code == 200, answer.text
    assert answer.json()["file_counts"]["failed"] == 1
    listed = requests.get(
        f"{stack.url}/v1/vector_stores/{answer.json()['id']}/files",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ).json()["data"]
    assert [(item["status"], item["last_error"]["code"]) for item in listed] == [("failed", "server_error")]
    (record,) = eventually(lambda: records_of(stack, answer.headers["x-request-id"]), 15, "the request's record")
    assert record == (200, "", 0)


def test_a_hung_broker_is_given_up_on_and_the_jobs_end_failed(stack: GatewayStack, broker: DedicatedRedis) -> None:
    key = stack.issue_key()
    (server,) = [
        process
        for process in psutil.process_iter(["cmdline"])
        if any(str(broker.directory) in part for part in process.info["cmdline"] or ())
    ]
    server.suspend()  # SIGSTOP: connections hang, only the broker's socket timeouts end a publish
    try:
        started = time.monotonic()
        answer = post(stack, key, "/v1/images/generations", json=IMAGE, headers=ASYNC)
        waited = time.monotonic() - started
    finally:
        server.resume()

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    # Bounded by config/settings.py's broker socket timeouts and Celery's few publish retries,
    # not by the operating system's TCP timeouts (minutes).
    assert waited < 45, waited
    jobs = query(
        stack,
        "SELECT j.status FROM images_imagejob j JOIN images_imagerequest r ON r.id = j.request_id "
        "WHERE r.request_id = %s",
        answer.headers["x-request-id"],
    )
    assert jobs == [("failed",)]
