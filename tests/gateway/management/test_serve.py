"""`make run`'s command end to end: `manage.py serve --emulator` on a fresh database.

It runs the real server command line (gunicorn with config/gunicorn.conf.py) and a Celery worker,
answers the official SDK streaming and not, shows the key and both usage records in the admin,
and stops every process it started on SIGINT (what Ctrl-C sends).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from servers import ROOT, free_port, wait_for


def test_serve_runs_the_whole_stack(fresh_database: str, tmp_path: Path) -> None:
    from openai import OpenAI

    port, emulator_port = free_port(), free_port()
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"serve{os.getpid()}",
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--emulator", "--emulator-port", str(emulator_port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz")
        output = log_path.read_text()
        password = re.search(r"admin user:\s+admin / (\S+)", output).group(1)
        key = re.search(r"API key:\s+(sk-gw-\S+)", output).group(1)
        assert "EMULATED upstream" in output

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
        streamed = client.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert reply.choices[0].message.content == "Hello! You said: hi"
        assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == "Hello! You said: hi"
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.json()["upstream"] == "emulated"
        assert health.headers["x-gateway-upstream"] == "emulated"

        # The ledger writer `serve` started puts the spooled records into the database.
        deadline = time.monotonic() + 10
        while True:
            with psycopg.connect(fresh_database) as conn:
                stored = conn.execute("SELECT prefix, key_hash FROM gateway_apikey").fetchall()
                usage = conn.execute("SELECT streamed, status FROM gateway_usagerecord ORDER BY created_at").fetchall()
            if len(usage) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(stored) == 1 and key.startswith(stored[0][0]) and key not in stored[0][1]
        assert usage == [(False, 200), (True, 200)]
        # The metrics and the request log follow the record (usage.settle steps), in whichever worker.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and log_path.read_text().count('"endpoint":"chat.completions"') < 2:
            time.sleep(0.1)
        served = [line for line in log_path.read_text().splitlines() if '"endpoint":"chat.completions"' in line]
        assert len(served) == 2 and all(line.startswith("{") for line in served) and key not in "".join(served)
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'gateway_requests_total{endpoint="chat.completions",model="gpt-4",status="200"} 2' in scraped

        admin = requests.Session()
        login = f"http://127.0.0.1:{port}/admin/login/"
        admin.get(login, timeout=5)
        answer = admin.post(
            login,
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": admin.cookies["csrftoken"],
                  "next": "/admin/"},
            headers={"Referer": login},
            timeout=5,
        )  # fmt: skip
        assert "EMULATED UPSTREAM" in answer.text
        keys_page = admin.get(f"http://127.0.0.1:{port}/admin/gateway/apikey/", timeout=5).text
        usage_page = admin.get(f"http://127.0.0.1:{port}/admin/gateway/usagerecord/", timeout=5).text
        assert stored[0][0] in keys_page and key not in keys_page
        assert "2 usage records" in usage_page

        deadline = time.monotonic() + 30
        while "ready." not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "ready." in log_path.read_text(), "the Celery worker never reported ready"
    finally:
        serve.send_signal(signal.SIGINT)
        exit_code = serve.wait(timeout=60)
    assert exit_code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{emulator_port}/", timeout=2)
