"""A bounded soak: `make soak` (or `.venv/bin/python -m bench.soak`).

The production server command (gunicorn, config/gunicorn.conf.py), the ledger writer and the
Workers AI emulator, on the bench database, for SOAK_SECONDS (180) of mixed traffic from
SOAK_CLIENTS (16) client threads: chat whole and streamed, streams the client leaves at a random
point, legacy completions, embeddings, moderations, the Responses API, the model list, and requests
that must be refused (a wrong key, a bad body, an unknown model). Every 10 s an upstream fault is
injected through the emulator, in turn: a burst of 5xx answers, of 429s, or a pause longer than a
stream's keep-alive interval.

It passes when nothing failed beyond the injected faults (an upstream error the gateway reports as
such, `upstream_*`), every answer was the OpenAI envelope or a stream, the workers' memory is stable
(RSS after each half, each worker), and no connection leaked (Postgres backends and Redis clients
after each half, once the ledger writer has drained: the first half fills the pools). The result is
appended to bench/results.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import ACCOUNT, TOKEN, _database_url, _wait_for_records, _wait_until_up  # noqa: E402
from config.embedded import postgres_url, redis_url  # noqa: E402
from config.paths import data_dir  # noqa: E402
from gateway.testing.emulator import WorkersAIEmulator  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "180"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "16"))
BIND = "127.0.0.1:8097"
PREFIX = "soak"
HI = [{"role": "user", "content": "hi"}]
RESULTS = ROOT / "bench" / "results.md"
RSS_GROWTH_LIMIT_MB = 30  # per worker, after warm-up: more is a leak, not a pool filling


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def note(self, kind: str, outcome: str, problem: str | None = None) -> None:
        with self.lock:
            self.outcomes[f"{kind} {outcome}"] += 1
            if problem is not None and len(self.unexpected) < 50:
                self.unexpected.append(f"{kind}: {problem}")


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "<not the envelope>"


def _one(session: requests.Session, base: str, key: str, rng: random.Random, tally: Tally) -> None:
    kind = rng.choice(
        ["chat", "chat", "stream", "stream", "leave", "completions", "embeddings", "moderations", "responses",
         "models", "wrong-key", "bad-body", "unknown-model"]
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {'sk-gw-wrong' if kind == 'wrong-key' else key}"}
    path, body, expected = "/v1/chat/completions", {"model": "gpt-4", "messages": HI}, 200
    if kind == "completions":
        path, body = "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}
    elif kind == "embeddings":
        path, body = "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]}
    elif kind == "moderations":
        path, body = "/v1/moderations", {"input": "hello"}
    elif kind == "responses":
        path, body = "/v1/responses", {"model": "gpt-4", "input": "hi", "store": False}
    elif kind == "wrong-key":
        expected = 401
    elif kind == "bad-body":
        body, expected = {"model": "gpt-4", "messages": "not a list"}, 400
    elif kind == "unknown-model":
        body, expected = {"model": "no-such-model", "messages": HI}, 404
    stream = kind in ("stream", "leave")
    if stream:
        body = {
            **body,
            "stream": True,
            "messages": [{"role": "user", "content": "[[long]]" if kind == "leave" else "hi"}],
        }
    try:
        if kind == "models":
            response = session.get(f"{base}/v1/models", headers=headers, timeout=60)
        else:
            response = session.post(f"{base}{path}", json=body, headers=headers, timeout=60, stream=stream)
        with response:
            if response.status_code != expected:
                code = _error_code(response)
                injected = code.startswith("upstream_")  # only the injected faults make upstream errors here
                tally.note(
                    kind, f"{response.status_code} {code}", None if injected else f"{response.status_code} {code}"
                )
                return
            if kind == "leave":
                lines = response.iter_lines()
                for _ in range(rng.randint(0, 8)):
                    next(lines, None)
                tally.note(kind, "left")
                return  # closing the response drops the connection mid-stream
            if stream:
                raw = response.content
                ok = raw.rstrip().endswith(b"data: [DONE]")
                tally.note(kind, "200" if ok else "200 cut", None if ok or b"upstream_" in raw else "stream cut")
                return
            json.loads(response.content)  # the body is JSON whatever the status
            tally.note(kind, str(response.status_code))
    except (requests.RequestException, ValueError) as exc:
        tally.note(kind, type(exc).__name__, f"{type(exc).__name__}: {exc}")


def _load(base: str, key: str, seconds: float, tally: Tally) -> None:
    """CLIENTS threads of mixed requests for `seconds`, each on a keep-alive session of its own."""
    started = time.monotonic()

    def client(index: int) -> None:
        rng, session = random.Random(index), requests.Session()
        while time.monotonic() - started < seconds:
            _one(session, base, key, rng, tally)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _faults(emulator: WorkersAIEmulator, stop: threading.Event, log: list[str]) -> None:
    kinds = ["5xx", "429", "pause"]  # in turn: each half of the soak gets each kind three times
    while not stop.wait(10):
        fault = kinds[len(log) % len(kinds)]
        if fault == "5xx":
            emulator.inject_error(status=500, code=3043, message="Internal server error", times=5)
        elif fault == "429":
            emulator.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", times=5)
        else:
            emulator.set_latency(first_byte=1.5)
            stop.wait(3)
            emulator.set_latency()
        log.append(fault)


def _footprint(server: subprocess.Popen[bytes], database_url: str, redis_client: redis.Redis) -> dict:
    workers = psutil.Process(server.pid).children()
    with psycopg.connect(database_url, autocommit=True) as conn:
        backends = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    return {
        "rss": [round(worker.memory_info().rss / 2**20) for worker in workers],
        "postgres": int(backends),
        "redis": int(redis_client.info("clients")["connected_clients"]) - 1,  # less this client
    }


def main() -> None:
    directory = data_dir()
    database_url = _database_url(postgres_url(directory))
    emulator = WorkersAIEmulator(account_id=ACCOUNT, token=TOKEN, port=0).start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(directory),
        "CACHE_KEY_PREFIX": PREFIX,
        "GATEWAY_CELERY_QUEUE": PREFIX,
        "CLOUDFLARE_API_BASE_URL": emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "GATEWAY_BIND": BIND,
        "GATEWAY_SSE_KEEPALIVE_SECONDS": "1",
        "GATEWAY_AUTH_FAILURES_PER_MINUTE": "0",  # the wrong-key clients share one address by design
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_models", "-v", "0"], env=env, check=True, cwd=ROOT, capture_output=True)
    created = subprocess.run(
        [*manage, "create_api_key", "soak"], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    )
    key = created.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    writer = subprocess.Popen([*manage, "ledger_writer"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    redis_client = redis.Redis.from_url(env["REDIS_URL"])
    base = f"http://{BIND}"
    tally, faults, stop = Tally(), [], threading.Event()
    try:
        _wait_until_up(f"{base}/healthz")
        records = _wait_for_records(database_url, 0)
        fault_thread = threading.Thread(target=_faults, args=(emulator, stop, faults))
        fault_thread.start()
        # Two halves of the same load and faults: the first fills the pools (Redis, Postgres, the
        # upstream's) to what this concurrency and these faults need, so growth in the second is a
        # leak, not a pool filling.
        _load(base, key, SECONDS / 2, tally)
        time.sleep(5)  # the writer's batch, idle connections back in their pools
        before = _footprint(server, database_url, redis_client)
        _load(base, key, SECONDS / 2, tally)
        stop.set()
        fault_thread.join()
        emulator.set_latency()
        served = sum(tally.outcomes.values())
        _wait_for_records(database_url, records + 1)
        time.sleep(5)
        after = _footprint(server, database_url, redis_client)
    finally:
        for process in (server, writer):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        emulator.stop()

    grown = [b - a for a, b in zip(before["rss"], after["rss"], strict=False)]
    problems = list(tally.unexpected)
    if any(growth > RSS_GROWTH_LIMIT_MB for growth in grown):
        problems.append(f"RSS grew {grown} MB")
    if after["postgres"] > before["postgres"] + 2 or after["redis"] > before["redis"] + 4:
        problems.append(f"connections {before} → {after}")
    verdict = "passed" if not problems else "FAILED: " + "; ".join(problems[:10])
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(tally.outcomes.items()))
    text = (
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — soak (`make soak`, bench/soak.py), {os.cpu_count()} cores\n\n"
        f'{SECONDS} s in two halves ("before" is after the first, which fills the pools), {CLIENTS} client threads, '
        f"{served} requests; faults injected: {', '.join(faults) or 'none'}.\n\n"
        "| measure | before | after |\n|---|---|---|\n"
        f"| RSS per web worker | {' / '.join(map(str, before['rss']))} MB | {' / '.join(map(str, after['rss']))} MB |\n"
        f"| Postgres backends on the bench database | {before['postgres']} | {after['postgres']} |\n"
        f"| Redis clients | {before['redis']} | {after['redis']} |\n\n"
        f"Outcomes: {outcomes}.\n\nResult: {verdict}.\n"
    )
    print(text)
    with RESULTS.open("a") as results:
        results.write(text)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
