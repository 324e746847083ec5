"""The embedded Postgres and Redis: started once however many processes race to start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
RACER = """
import json, sys
from pathlib import Path
from config.embedded import postgres_url, redis_url
directory = Path(sys.argv[1])
print(json.dumps({"postgres": postgres_url(directory), "redis": redis_url(directory)}))
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # A short path: Unix socket paths are limited to ~107 bytes.
    with tempfile.TemporaryDirectory(prefix="gw-", dir="/tmp") as directory:
        yield Path(directory)
        subprocess.run(
            [sys.executable, "-m", "config.embedded", "stop"],
            cwd=ROOT,
            env={"DATA_DIR": directory, "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )


def test_racing_processes_share_one_postgres_and_one_redis(data_dir: Path) -> None:
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    answers = [json.loads(racer.communicate(timeout=120)[0]) for racer in racers]

    assert all(racer.returncode == 0 for racer in racers)
    assert len({answer["postgres"] for answer in answers}) == 1
    assert len({answer["redis"] for answer in answers}) == 1
    with psycopg.connect(answers[0]["postgres"]) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        assert conn.execute("SELECT '[1,2]'::vector <=> '[2,4]'::vector").fetchone()[0] == pytest.approx(0.0)
    assert version.startswith("18")
    client = redis.Redis.from_url(answers[0]["redis"])
    assert client.ping() is True
    # One server each: the pid files name the very processes the racers are talking to.
    postmaster_pid = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    with psycopg.connect(answers[0]["postgres"]) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert f"PPid:\t{postmaster_pid}\n" in Path(f"/proc/{backend}/status").read_text()
    assert int((data_dir / "redis" / "redis.pid").read_text()) == client.info("server")["process_id"]


def test_stop_stops_both(data_dir: Path) -> None:
    subprocess.run([sys.executable, "-c", RACER, str(data_dir)], cwd=ROOT, check=True, capture_output=True)

    stopped = subprocess.run(
        [sys.executable, "-m", "config.embedded", "stop"],
        cwd=ROOT,
        env={"DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    assert "embedded Postgres: stopped" in stopped and "embedded Redis: stopped" in stopped
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(data_dir / "redis.sock")).ping()


def stop(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config.embedded", "stop"],
        cwd=ROOT,
        env={"DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_starting_says_nothing_about_xdg_runtime_dir(data_dir: Path) -> None:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver asks it at import.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(data_dir)}
    started = subprocess.run(
        [sys.executable, "-c", RACER, str(data_dir)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )

    assert "XDG_RUNTIME_DIR" not in started.stderr
    assert "XDG_RUNTIME_DIR" not in stop(data_dir).stderr


def test_stop_refuses_while_a_serve_process_is_recorded(tmp_path: Path) -> None:
    from config.embedded import forget_server, record_server, serving_process

    server = subprocess.Popen(["sleep", "60"])  # stands for `manage.py serve`
    try:
        record_server(tmp_path, server.pid)
        deadline = time.monotonic() + 5
        while serving_process(tmp_path) != (server.pid, "sleep 60") and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec'd: its command line is sleep's
        assert serving_process(tmp_path) == (server.pid, "sleep 60")

        refused = stop(tmp_path)

        assert refused.returncode == 1 and refused.stdout == ""
        assert f"(pid {server.pid}: sleep 60)" in refused.stderr and f"kill {server.pid}" in refused.stderr
        forget_server(tmp_path, server.pid + 1)  # another process's exit never removes the record
        assert (tmp_path / "serve.pid").exists()
        forget_server(tmp_path, server.pid)
        assert not (tmp_path / "serve.pid").exists()
    finally:
        server.kill()
        server.wait()


def test_a_stale_record_is_ignored(tmp_path: Path) -> None:
    from config.embedded import record_server, serving_process

    gone = subprocess.Popen(["true"])
    gone.wait()
    record_server(tmp_path, gone.pid)  # a `serve` that was SIGKILLed: its file stays behind
    assert serving_process(tmp_path) is None
    (tmp_path / "serve.pid").write_text(f"{os.getpid()} 1\n")  # a live pid, but reused: another start time
    assert serving_process(tmp_path) is None
    (tmp_path / "serve.pid").write_text("garbage\n")
    assert serving_process(tmp_path) is None

    stopped = stop(tmp_path)

    assert stopped.returncode == 0
    assert "embedded Postgres: not running" in stopped.stdout and "embedded Redis: not running" in stopped.stdout
