"""Image jobs on the production server command and real Celery worker processes (tests/fault_stack.py).

A worker killed with SIGKILL in the middle of a job leaves its unacknowledged task to another
worker once GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS have passed (4 s here); that worker claims
the job again and ends it, so the request gets one image, one stored file and one usage record.
A job whose worker stays alive is run once.

Each test has its own Redis (see `own_redis`), queue, DATA_DIR (so its images directory holds only
its own files) and database. The workers are started here, each in a process group of its own, so
the whole worker (main process and pool threads) dies at once.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_client
import requests
from fault_stack import DedicatedRedis, GatewayStack, eventually
from PIL import Image
from servers import ROOT

from gateway.testing.emulator import WorkersAIEmulator

FLUX = "@cf/black-forest-labs/flux-1-schnell"
VISIBILITY_TIMEOUT = 4
RECEIVED = re.compile(r"Task images\.tasks\.generate_image\[[0-9a-f-]+\] received")


class Workers:
    """Celery workers on the stack's environment (the command `make run` starts), one log each."""

    def __init__(self, stack: GatewayStack) -> None:
        self.stack = stack
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "2", "-l", "INFO",
                   "-n", f"{name}-{uuid.uuid4().hex[:8]}@%h"]  # fmt: skip
        with open(self.stack.log_dir / f"worker-{name}.log", "wb") as log:  # the worker keeps its own copy
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.stack.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.stack.log_dir / f"worker-{name}.log").read_text(errors="replace")

    def ready(self, name: str) -> bool:
        return " ready." in self.log(name)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: nothing of the worker acks or cleans up
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[DedicatedRedis]:
    """A Redis of the test's own: the broker's keys are under each stack's prefix already
    (config/settings.py global_keyprefix), and this also keeps the workers killed here from
    leaving anything behind on the suite's Redis."""
    with DedicatedRedis.running() as server:
        yield server


@pytest.fixture
def stack(
    fresh_database: str, own_redis: DedicatedRedis, upstream: WorkersAIEmulator, tmp_path: Path
) -> Iterator[GatewayStack]:
    gateway = GatewayStack(
        fresh_database,
        own_redis.url,
        upstream.base_url,
        tmp_path,
        GATEWAY_CELERY_QUEUE=f"images-server-{uuid.uuid4().hex}",
        GATEWAY_CELERY_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT),
        DATA_DIR=str(tmp_path / "data"),  # its own images directory: every file in it is this test's
    )
    try:
        yield gateway.start()
    finally:
        gateway.stop()


@pytest.fixture
def workers(stack: GatewayStack) -> Iterator[Workers]:
    started = Workers(stack)
    try:
        yield started
    finally:
        started.stop()


def images_dir(stack: GatewayStack) -> Path:
    """Where the stack's processes store images: its settings' STORAGES["images"] location."""
    printed = stack.manage(
        "shell", "-c", "from django.conf import settings; print(settings.STORAGES['images']['OPTIONS']['location'])"
    )
    return Path(printed.strip().splitlines()[-1])


def query(stack: GatewayStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(stack.database_url) as conn:
        cursor = conn.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def jobs_of(stack: GatewayStack, request_id: str) -> list[dict[str, Any]]:
    return query(
        stack,
        "SELECT j.id, j.index, j.status, j.error_code, j.attempts, j.file_name, j.file_bytes FROM images_imagejob j "
        "JOIN images_imagerequest r ON r.id = j.request_id WHERE r.request_id = %s ORDER BY j.index",
        request_id,
    )


def records_of(stack: GatewayStack, request_id: str) -> list[dict[str, Any]]:
    return query(
        stack,
        "SELECT request_id, endpoint, public_model, status, error_code, images FROM gateway_usagerecord "
        "WHERE request_id = %s ORDER BY id",
        request_id,
    )


def generate(stack: GatewayStack, key: str, *, respond_async: bool, **body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if respond_async:
        headers["Prefer"] = "respond-async"
    return requests.post(
        f"{stack.url}/v1/images/generations",
        json={"model": "dall-e-2", "prompt": "a lighthouse at dusk", "size": "256x256", **body},
        headers=headers,
        timeout=60,
    )


def flux_calls(upstream: WorkersAIEmulator) -> int:
    return sum(1 for request in upstream.requests if request.model == FLUX)


def unacked_since(stack: GatewayStack, job_id: str) -> list[float]:
    """When the broker handed out this job's task, for each delivery not yet acknowledged (kombu's
    Redis transport keeps them in the `unacked` hash, scored by delivery time in `unacked_index`)."""
    prefix = f"{stack.env['CACHE_KEY_PREFIX']}:celery:"  # config/settings.py: the broker's global_keyprefix
    with redis_client.Redis.from_url(stack.env["REDIS_URL"]) as client:
        held = client.hgetall(prefix + "unacked").items()
        tags = [tag for tag, message in held if job_id.encode() in message]
        return [score for tag in tags if (score := client.zscore(prefix + "unacked_index", tag)) is not None]


def received(workers: Workers, *names: str) -> int:
    """How many deliveries of the image task the named workers logged (Celery logs each at INFO)."""
    return sum(len(RECEIVED.findall(workers.log(name))) for name in names)


def decoded_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        return picture.size


def start_a_job_and_kill_its_worker(
    stack: GatewayStack, workers: Workers, upstream: WorkersAIEmulator
) -> tuple[str, str, str]:
    """Worker A claims a one-image job and is SIGKILLed while the upstream is still drawing it.
    Returns the key, the request id and the job id."""
    key = stack.issue_key()
    upstream.set_latency(first_byte=3)  # every upstream call takes 3 s: time to kill the worker making it
    workers.start("a")
    answer = generate(stack, key, respond_async=True, n=1)
    assert answer.status_code == 202, answer.text
    request_id = answer.headers["x-request-id"]
    (job,) = answer.json()["data"]
    assert (job["status"], job["request_id"]) == ("queued", request_id)
    eventually(lambda: jobs_of(stack, request_id)[0]["status"] == "running", 30, "worker A claiming the job")
    eventually(lambda: flux_calls(upstream) == 1, 10, "worker A calling the upstream")

    workers.kill("a")

    (running,) = jobs_of(stack, request_id)
    assert (running["status"], running["attempts"], running["file_name"]) == ("running", 1, "")
    assert len(unacked_since(stack, job["id"])) == 1  # A's delivery, never acknowledged
    return key, request_id, job["id"]


def assert_made_once_and_billed_once(
    stack: GatewayStack, workers: Workers, upstream: WorkersAIEmulator, key: str, request_id: str, seconds: float
) -> None:
    (ended,) = eventually(
        lambda: [row for row in jobs_of(stack, request_id) if row["status"] == "succeeded"],
        seconds,
        "worker B running the job again to success",
    )
    assert ended["attempts"] == 2
    assert flux_calls(upstream) == 2  # B drew it again: A's call never came back
    assert ended["file_name"] and ended["file_bytes"] > 0
    directory = images_dir(stack)
    assert sorted(path.name for path in directory.iterdir()) == [ended["file_name"]]  # A stored nothing
    assert (directory / ended["file_name"]).stat().st_size == ended["file_bytes"]
    (record,) = eventually(lambda: records_of(stack, request_id), 15, "the request's usage record")
    assert (record["endpoint"], record["public_model"]) == ("images.generations", "dall-e-2")
    assert (record["status"], record["error_code"], record["images"]) == (200, "", 1)

    polled = requests.get(f"{stack.url}/v1/images/jobs/{ended['id']}", headers={"Authorization": f"Bearer {key}"})
    assert polled.status_code == 200, polled.text
    body = polled.json()
    assert (body["status"], body["attempts"], body["error"]) == ("succeeded", 2, None)
    image = requests.get(body["result"]["url"], timeout=10)  # the signed link, no key
    assert image.status_code == 200
    assert decoded_size(image.content) == (256, 256)
    eventually(lambda: not unacked_since(stack, ended["id"]), 10, "worker B acknowledging the task")
    assert received(workers, "b") == 1
    assert len(records_of(stack, request_id)) == 1


def test_a_killed_workers_job_is_run_again_by_a_worker_started_later_and_billed_once(
    stack: GatewayStack, workers: Workers, upstream: WorkersAIEmulator
) -> None:
    key, request_id, job_id = start_a_job_and_kill_its_worker(stack, workers, upstream)
    # B starts once A's delivery is past the visibility timeout: its first sweep of the broker's
    # unacknowledged deliveries (at start-up) hands the task out again.
    (taken,) = unacked_since(stack, job_id)
    eventually(lambda: time.time() - taken > VISIBILITY_TIMEOUT + 0.5, 10, "the visibility timeout passing")

    workers.start("b")

    assert_made_once_and_billed_once(stack, workers, upstream, key, request_id, seconds=40)


def test_a_killed_workers_job_is_run_again_soon_after_the_visibility_timeout(
    stack: GatewayStack, workers: Workers, upstream: WorkersAIEmulator
) -> None:
    key, request_id, _ = start_a_job_and_kill_its_worker(stack, workers, upstream)

    workers.start("b")  # at once: its start-up sweep comes before the visibility timeout has passed

    # 4 s of visibility timeout, ~3 s of start-up and 3 s of upstream: 40 s is ample.
    assert_made_once_and_billed_once(stack, workers, upstream, key, request_id, seconds=40)


def test_a_job_whose_worker_stays_alive_is_run_once(
    stack: GatewayStack, workers: Workers, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key()
    upstream.set_latency(first_byte=1)
    workers.start("a")
    workers.start("b")
    eventually(lambda: workers.ready("a") and workers.ready("b"), 60, "both workers ready")

    answer = generate(stack, key, respond_async=False, n=2)

    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    assert len(answer.json()["data"]) == 2
    jobs = jobs_of(stack, request_id)
    assert [(row["status"], row["attempts"]) for row in jobs] == [("succeeded", 1), ("succeeded", 1)]
    (record,) = eventually(lambda: records_of(stack, request_id), 15, "the request's usage record")
    assert (record["status"], record["images"]) == (200, 2)
    # Both tasks acknowledged: no sweep of the broker can hand them out again.
    eventually(lambda: not any(unacked_since(stack, row["id"]) for row in jobs), 10, "the tasks being acknowledged")
    assert received(workers, "a", "b") == 2
    assert flux_calls(upstream) == 2
    directory = images_dir(stack)
    assert sorted(path.name for path in directory.iterdir()) == sorted(row["file_name"] for row in jobs)
    assert len(records_of(stack, request_id)) == 1


def test_with_the_broker_down_a_generation_is_a_503_with_retry_after_and_makes_no_job(
    stack: GatewayStack, own_redis: DedicatedRedis
) -> None:
    key = stack.issue_key()
    own_redis.stop()  # the broker is the gateway's Redis: admission needs it before any job exists

    answer = generate(stack, key, respond_async=True)

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["code"] == "service_unavailable"
    request_id = answer.headers["x-request-id"]
    # The gunicorn worker's first request: its stamps could not be read either (gateway/stamps.py).
    (record,) = eventually(lambda: records_of(stack, request_id), 15, "the refusal's record, straight to Postgres")
    assert (record["status"], record["error_code"]) == (503, "service_unavailable")
    assert query(stack, "SELECT id FROM images_imagejob") == []


def test_a_job_queued_before_the_broker_went_down_runs_once_it_is_back(
    stack: GatewayStack, own_redis: DedicatedRedis, workers: Workers, upstream: WorkersAIEmulator
) -> None:
    key = stack.issue_key()
    answer = generate(stack, key, respond_async=True)  # no worker yet: the task waits in the broker
    assert answer.status_code == 202, answer.text
    request_id = answer.headers["x-request-id"]
    (job,) = answer.json()["data"]

    own_redis.stop()  # the task's message is in the append-only file, fsynced at shutdown
    polled = requests.get(f"{stack.url}/v1/images/jobs/{job['id']}", headers={"Authorization": f"Bearer {key}"})
    assert (polled.status_code, polled.headers["Retry-After"]) == (503, "5")
    own_redis.start()
    workers.start("a")

    (ended,) = eventually(
        lambda: [row for row in jobs_of(stack, request_id) if row["status"] == "succeeded"], 40, "the job's run"
    )
    assert ended["attempts"] == 1
    (record,) = eventually(lambda: records_of(stack, request_id), 15, "the request's usage record")
    assert (record["status"], record["images"]) == (200, 1)
    eventually(lambda: not unacked_since(stack, job["id"]), 10, "the task being acknowledged")
    assert flux_calls(upstream) == 1
    assert len(records_of(stack, request_id)) == 1
