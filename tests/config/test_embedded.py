"""The embedded Postgres and Redis: started once however many processes race to start them."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
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
