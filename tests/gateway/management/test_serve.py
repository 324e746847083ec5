"""`make run`'s command end to end: `manage.py serve --emulator` on a fresh database.

It runs the real server command line (gunicorn with config/gunicorn.conf.py) and a Celery worker,
answers the official SDK streaming and not, shows the key and both usage records in the admin,
and stops every process it started on SIGINT (what Ctrl-C sends) or SIGTERM — also when started
with SIGINT ignored, as a shell script's background job is. Whatever happens, no process of the
run outlives its test: the whole session is killed, then anything still carrying the run's marker
in its environment.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from servers import ROOT, free_port, wait_for


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a non-interactive shell does


def leftovers(marker: str) -> list[int]:
    """Processes whose environment carries this run's marker (every child inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if f"SERVE_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@contextmanager
def serving(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`manage.py serve ARGS` in a session of its own, started with SIGINT ignored; afterwards
    nothing of it is left running, whatever the test did."""
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", *args],
            cwd=ROOT, env={**env, "SERVE_TEST_MARKER": marker}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=ignore_sigint,
        )  # fmt: skip
    try:
        yield serve
    finally:
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(serve.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        serve.wait()
        deadline = time.monotonic() + 10
        while (stray := leftovers(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)  # the children's parent-death signal at work
        for pid in stray:
            os.kill(pid, signal.SIGKILL)
        assert not stray, f"processes of `serve` outlived it: {stray}"


def serve_env(database: str, port: int, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"serve{os.getpid()}",
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "DATA_DIR": str(data_dir),
    }


def test_serve_runs_the_whole_stack(fresh_database: str, tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    log_path = tmp_path / "serve.log"
    env = serve_env(fresh_database, port, tmp_path / "data")
    with serving(["--emulator", "--emulator-port", str(emulator_port)], env, log_path) as serve:
        try:
            exercise_the_stack(port, log_path, fresh_database)
        finally:
            serve.send_signal(signal.SIGINT)
            exit_code = serve.wait(timeout=60)
    assert exit_code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{emulator_port}/", timeout=2)
    output = log_path.read_text()
    # One banner, no URL line of the emulator's own, each shutdown said once.
    assert output.count(f"Serving http://127.0.0.1:{port}") == 1
    assert not any(line.startswith(f"http://127.0.0.1:{emulator_port}") for line in output.splitlines())
    assert output.count("Stopping (SIGINT): ") == 1 and output.count("Stopped.") == 1
    assert output.count("Shutting down: Master") == 1  # gunicorn got one signal
    assert output.count("Warm shutdown") <= 1  # Celery's, once at most
    assert "XDG_RUNTIME_DIR" not in output


def exercise_the_stack(port: int, log_path: Path, fresh_database: str) -> None:
    from openai import OpenAI

    wait_for(f"http://127.0.0.1:{port}/readyz")
    deadline = time.monotonic() + 10
    while "EMULATED upstream" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the banner follows the first answer of /healthz
    output = log_path.read_text()
    password = re.search(r"admin user:\s+admin / (\S+)", output).group(1)
    key = re.search(r"API key:\s+(sk-gw-\S+)", output).group(1)
    assert "EMULATED upstream" in output

    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    streamed = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}], stream=True)
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
    # Each worker sends its own counts with the scrape it serves, the other's within the flush
    # interval (GATEWAY_METRICS_FLUSH_SECONDS): the scrape may reach the worker that served neither.
    counted = 'gateway_requests_total{endpoint="chat.completions",model="gpt-4",status="200"} 2'
    deadline = time.monotonic() + 10
    while counted not in (scraped := requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert counted in scraped

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

    # The Responses API's named events through the real server, and the stored response read back
    # on a new connection (whichever worker takes it).
    with client.responses.stream(model="gpt-4", input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "Hello! You said: hi"
    with OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0) as other:
        assert other.responses.retrieve(final.id).output_text == "Hello! You said: hi"

    # A vector store's file is embedded by the Celery worker `serve` started, then searched.
    store = client.vector_stores.create(name="serve")
    added = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.txt", b"The serve command starts a Celery worker."), max_wait_seconds=60
    )
    assert added.status == "completed", added.last_error
    found = client.vector_stores.search(store.id, query="Which worker does serve start?")
    assert found.data[0].filename == "notes.txt"


def embedded_stop(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config.embedded", "stop"],
        cwd=ROOT, env={"DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip


def test_sigterm_stops_it_and_make_stop_refuses_while_it_serves(fresh_database: str, tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    log_path, data_dir = tmp_path / "serve.log", tmp_path / "data"
    env = serve_env(fresh_database, port, data_dir)
    with serving(["--no-worker", "--emulator", "--emulator-port", str(emulator_port)], env, log_path) as serve:
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz")
            assert (data_dir / "serve.pid").read_text().split()[0] == str(serve.pid)
            refused = embedded_stop(data_dir)
            assert refused.returncode == 1
            assert f"pid {serve.pid}: " in refused.stderr and "manage.py serve" in refused.stderr
            assert "Ctrl-C" in refused.stderr and refused.stdout == ""  # nothing was stopped
        finally:
            serve.send_signal(signal.SIGTERM)
            exit_code = serve.wait(timeout=60)
    assert exit_code == 0
    assert not (data_dir / "serve.pid").exists()
    output = log_path.read_text()
    assert output.count("Stopping (SIGTERM): gunicorn, ledger writer, emulator.") == 1
    assert output.count("Stopped.") == 1 and output.count("Shutting down: Master") == 1
    assert output.count("ledger writer: draining the usage spool") <= 1
    stopped = embedded_stop(data_dir)  # nothing serves any more: it goes ahead
    assert stopped.returncode == 0 and "embedded Redis: not running" in stopped.stdout
