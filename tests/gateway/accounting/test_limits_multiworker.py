"""Limits hold across processes: real gunicorn, two workers, one shared Redis.

The server runs the production command line on a fresh database; the key is issued by
`create_api_key` and revoked by `manage.py shell`, each in a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings
from fault_stack import GatewayStack
from servers import ROOT

from gateway.testing.emulator import WorkersAIEmulator


@pytest.fixture
def server(fresh_database: str, upstream: WorkersAIEmulator, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    stack = GatewayStack(
        fresh_database, settings.REDIS_URL, upstream.base_url, tmp_path, GATEWAY_WORKERS="2", GATEWAY_THREADS="8"
    ).start()
    try:
        yield stack.url, stack.env
    finally:
        stack.stop()


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return done.stdout.decode()


def test_two_workers_admit_exactly_the_rpm(server: tuple[str, dict], upstream: WorkersAIEmulator) -> None:
    url, env = server
    key = manage(env, "create_api_key", "workers", "--rpm", "3").splitlines()[-1]
    key_id = int(
        manage(env, "shell", "-c", "from gateway.models import ApiKey; print(ApiKey.objects.get().pk)").split()[-1]
    )
    # All twelve requests must fall in one of the key's windows (django-ratelimit staggers them).
    now = time.time()
    left = now - now % 60 + zlib.crc32(str(key_id).encode()) % 60 + 1 - now
    if left <= 0:
        left += 60
    if left < 10:
        time.sleep(left + 0.2)

    def ask(_: int) -> requests.Response:
        # A connection each (no session): requests spread over both workers' accept loops.
        return requests.post(
            f"{url}/v1/chat/completions",
            json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}", "Connection": "close"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ask, range(12)))

    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 9
    assert sorted(answer.headers["x-ratelimit-remaining-requests"] for answer in answers if answer.ok) == [
        "0",
        "1",
        "2",
    ]
    for answer in answers:
        assert answer.headers["x-ratelimit-limit-requests"] == "3"
        if not answer.ok:
            assert answer.json()["error"]["code"] == "rate_limit_exceeded"
            assert answer.headers["x-ratelimit-remaining-requests"] == "0"
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert len(upstream.requests) == 3

    # Revoked from another process: every worker refuses the key on its very next request.
    manage(env, "shell", "-c", "from django.utils import timezone; from gateway.models import ApiKey; "
           "key = ApiKey.objects.get(); key.revoked_at = timezone.now(); key.save()")  # fmt: skip
    with ThreadPoolExecutor(max_workers=6) as pool:
        after = list(pool.map(ask, range(6)))
    assert [answer.status_code for answer in after] == [401] * 6
