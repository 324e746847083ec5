"""Redis out of reach: every /v1 request that needs it answers a 503 envelope with Retry-After, fast.

The real server command (gunicorn, config/gunicorn.conf.py) on a fresh database, pointed at a
redis-server of the test's own, which is first frozen (SIGSTOP: connections hang, so only the
socket timeouts end a request) and then stopped (connections are refused).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from conftest import error_of
from django.test import RequestFactory
from fault_stack import DedicatedRedis, GatewayStack, eventually
from servers import ROOT, free_port

from config.embedded import _redis_server_binary
from gateway.http.envelope import server_error
from gateway.testing.emulator import WorkersAIEmulator

SOCKET_TIMEOUT = 0.5  # REDIS_SOCKET_TIMEOUT_SECONDS and REDIS_CONNECT_TIMEOUT_SECONDS of the server
RETRY_AFTER = "5"  # gateway/http/envelope.py UNAVAILABLE_RETRY_AFTER_SECONDS
HI = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    server = subprocess.Popen(
        [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while subprocess.run([sys.executable, "-c", f"import redis; redis.Redis.from_url({url!r}).ping()"],
                         capture_output=True).returncode:  # fmt: skip
        assert time.monotonic() < deadline, "the test's redis-server never answered"
        time.sleep(0.1)
    yield server, url
    server.send_signal(signal.SIGCONT)  # a frozen server would ignore SIGTERM
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def server(
    fresh_database: str,
    redis_server: tuple[subprocess.Popen, str],
    upstream: WorkersAIEmulator,
    tmp_path: Path,
) -> Iterator[tuple[str, dict]]:
    stack = GatewayStack(
        fresh_database,
        redis_server[1],
        upstream.base_url,
        tmp_path,
        REDIS_CONNECT_TIMEOUT_SECONDS=str(SOCKET_TIMEOUT),
        REDIS_SOCKET_TIMEOUT_SECONDS=str(SOCKET_TIMEOUT),
        GATEWAY_THREADS="4",
    ).start()
    try:
        yield stack.url, stack.env
    finally:
        stack.stop()


def unavailable(response: requests.Response) -> None:
    error = error_of(response, 503)
    assert (error["type"], error["code"]) == ("server_error", "service_unavailable")
    assert response.headers["Retry-After"] == RETRY_AFTER


def test_a_gone_or_hung_redis_answers_503_with_retry_after(
    server: tuple[str, dict], redis_server: tuple[subprocess.Popen, str]
) -> None:
    url, env = server
    command = [sys.executable, "manage.py", "create_api_key", "redis-down"]
    issued = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    key = issued.stdout.decode().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}

    def chat() -> requests.Response:
        return requests.post(f"{url}/v1/chat/completions", json=HI, headers=auth, timeout=30)

    assert chat().status_code == 200  # Redis up: the key, limits and routes are cached in it
    assert requests.get(f"{url}/readyz", timeout=30).status_code == 200

    redis_process = redis_server[0]
    redis_process.send_signal(signal.SIGSTOP)  # hung: only the socket timeouts end a command
    started = time.monotonic()
    refused = [chat()]
    unavailable(refused[0])
    # One Redis call waits out the socket timeout and the request is answered (0.51 s measured):
    # no retry, no backoff (config/settings.py CACHES "retry"), never the OS's TCP timeouts.
    assert time.monotonic() - started < 4 * SOCKET_TIMEOUT

    redis_process.send_signal(signal.SIGCONT)
    redis_process.terminate()  # gone: connections are refused
    redis_process.wait(timeout=30)
    refused += [
        chat(),
        requests.get(f"{url}/v1/models", headers=auth, timeout=30),
        requests.post(f"{url}/v1/chat/completions", json=HI, headers={"Authorization": "Bearer sk-gw-x"}),
    ]
    for answer in refused:
        unavailable(answer)
    # A refused connection is answered at once (about 15 ms measured), not after redis-py backoffs.
    assert all(answer.elapsed.total_seconds() < 1 for answer in refused[1:])
    # Each refusal is in the ledger once: with the spool out of reach, settle writes it directly.
    # Not a timing test: under a loaded run one of these records once took over 15 s, so the
    # deadline only bounds a hang (measured: all four within 0.1 s, also with the CPUs saturated).
    wanted = {answer.headers["x-request-id"] for answer in refused}
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(env["DATABASE_URL"]) as conn:
            rows = conn.execute(
                "SELECT request_id, status, error_code FROM gateway_usagerecord WHERE request_id = ANY(%s)",
                (list(wanted),),
            ).fetchall()
        if len(rows) >= len(wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sorted(rows) == sorted((request_id, 503, "service_unavailable") for request_id in wanted)
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
    ready = requests.get(f"{url}/readyz", timeout=30)
    assert error_of(ready, 503)["code"] == "not_ready"
    assert "redis" in ready.json()["error"]["message"]


def test_service_resumes_when_redis_is_back_and_no_refusal_goes_unrecorded(
    fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path
) -> None:
    redis_server = DedicatedRedis()  # the embedded one: append-only, restarted on the same data
    redis_server.start()
    stack = GatewayStack(fresh_database, redis_server.url, upstream.base_url, tmp_path).start()
    try:
        key = stack.issue_key()
        redis_server.stop()
        # The worker's very first request: even the stamps its data is read under are out of reach.
        refused = [stack.chat(key), stack.chat(key, stream=True)]
        for answer in refused:
            unavailable(answer)
        redis_server.start()
        # Connections the pool held to the stopped server are replaced as they are next used.
        served = [stack.chat(key), stack.chat(key, stream=True)]
        assert [answer.status_code for answer in served] == [200, 200]
        assert served[1].text.rstrip().endswith("data: [DONE]")

        wanted = {answer.headers["x-request-id"] for answer in refused + served}
        records = eventually(lambda: len(found := stack.records()) >= len(wanted) and found, what="every record")
        assert {record["request_id"] for record in records} == wanted
        assert sorted(record["status"] for record in records) == [200, 200, 503, 503]
    finally:
        stack.stop()
        redis_server.destroy()


def test_an_error_outside_drf_that_redis_is_gone_answers_503_too() -> None:
    # Django's handler500 (gateway/http/envelope.py server_error) runs while the exception a view or
    # middleware raised is being handled: here, a real refused connection.
    try:
        redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=SOCKET_TIMEOUT).ping()
    except redis.exceptions.ConnectionError:
        response = server_error(RequestFactory().get("/anywhere"))

    assert response.status_code == 503
    assert response["Retry-After"] == RETRY_AFTER
    assert json.loads(response.content)["error"]["code"] == "service_unavailable"
