"""Gateway overhead benchmark: `make bench` (or `.venv/bin/python -m bench.run`).

Starts the Workers AI emulator and the real server command line (gunicorn, config/gunicorn.conf.py)
on a database of its own, then measures with concurrent clients on loopback:
- non-streamed chat latency through the gateway vs. straight to the emulator (the overhead),
- throughput at a fixed concurrency,
- database transactions per request (from pg_stat_database), the ledger writer's batches included,
  and how long after the last answer every usage record is in the database,
- concurrent streams held open at once, and the workers' resident memory while they are,
- RAG ingestion, the audio endpoints (bench/audio.py) and image generation (bench/images.py).
Results are printed and appended to bench/results.md with the date and machine.
"""

from __future__ import annotations

import os
import platform
import runpy
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audio import audio_rows  # noqa: E402
from bench.images import image_rows  # noqa: E402
from bench.responses import responses_rows  # noqa: E402
from bench.routing import routing_rows  # noqa: E402
from bench.vector_stores import vector_store_rows  # noqa: E402
from config.embedded import postgres_url, redis_url  # noqa: E402
from config.paths import data_dir  # noqa: E402
from gateway.testing.emulator import WorkersAIEmulator  # noqa: E402

ACCOUNT, TOKEN = "bench-account", "bench-token"
BIND = "127.0.0.1:8099"
DB_NAME = "gateway_bench"
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "60"))
# BENCH_KEY_LIMITS=1 gives the bench key (never reached) RPM/TPM limits, to measure the limiter's cost.
_KEY_LIMITS = ["--rpm", "100000000", "--tpm", "1000000000"] if os.environ.get("BENCH_KEY_LIMITS") == "1" else []
BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


def _bench_env() -> str:
    names = (
        "GUNICORN_CMD_ARGS",
        "GATEWAY_WORKER_CLASS",
        "GATEWAY_WORKERS",
        "GATEWAY_THREADS",
        "GATEWAY_WORKER_CONNECTIONS",
        "BENCH_REQUESTS",
        "BENCH_CONCURRENCY",
        "BENCH_KEY_LIMITS",
    )
    return "".join(f"{name}={os.environ[name]!r} " for name in (*names, "BENCH_STREAMS") if name in os.environ)


def _ms(latencies: list[float]) -> str:
    return f"{statistics.median(latencies):.2f} / {_percentile(latencies, 0.95):.2f} ms"


def server_model() -> str:
    """The worker model config/gunicorn.conf.py chooses in this environment, for the tables' text
    (bench/compare.py's too)."""
    settings = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    kind = str(settings.get("worker_class", "sync"))
    per_worker = {"gthread": "threads", "gevent": "worker_connections"}
    each = f"{settings.get(per_worker[kind])} {per_worker[kind].removeprefix('worker_')}" if kind in per_worker else ""
    extra = f", GUNICORN_CMD_ARGS={os.environ['GUNICORN_CMD_ARGS']!r}" if os.environ.get("GUNICORN_CMD_ARGS") else ""
    return f"{kind}, {settings.get('workers')} workers{f' × {each}' if each else ''}{extra}"


def _timed_posts(
    url: str, headers: dict[str, str], body: dict, count: int, concurrency: int
) -> tuple[list[float], float]:
    local = threading.local()

    def one(_: int) -> float:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # one keep-alive connection per client thread
        session = local.session
        started = time.perf_counter()
        response = session.post(url, json=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
        return elapsed * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - started


def _database_url(base: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    return base.replace("/postgres?", f"/{DB_NAME}?")


def _transactions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (DB_NAME,)
        ).fetchone()
        return int(row[0])


def _wait_for_records(url: str, count: int) -> int:
    """The usage record count once it reaches `count` (the ledger writer works behind the answers)."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            found = int(conn.execute("SELECT count(*) FROM gateway_usagerecord").fetchone()[0])
        if found >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def _rss_mb(pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for child in [str(pid), *children]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    model = server_model()  # before the server starts: what it is started with
    directory = data_dir()
    database_url = _database_url(postgres_url(directory))
    emulator = WorkersAIEmulator(account_id=ACCOUNT, token=TOKEN, port=0).start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(directory),
        "CACHE_KEY_PREFIX": "bench",
        "GATEWAY_CELERY_QUEUE": "bench",  # its own queue: a `make run` worker must not take its jobs
        "CLOUDFLARE_API_BASE_URL": emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "GATEWAY_BIND": BIND,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "seed_models", "-v", "0"], env=env, check=True, cwd=ROOT, capture_output=True)
    key = (
        subprocess.run(
            [*manage, "create_api_key", "bench", *_KEY_LIMITS],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    writer = subprocess.Popen([*manage, "ledger_writer"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    # The image jobs' worker, as `make run` starts it (threads: the jobs wait on the upstream).
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "2", "-l", "WARNING"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        _wait_until_up(f"http://{BIND}/healthz")
        headers = {"Authorization": f"Bearer {key}"}
        gateway = f"http://{BIND}/v1/chat/completions"
        direct = f"{emulator.base_url}/accounts/{ACCOUNT}/ai/run/@cf/meta/llama-3.3-70b-instruct-fp8-fast"
        direct_body = {"messages": BODY["messages"], "max_tokens": 16}
        records = _wait_for_records(database_url, 0)  # the database is kept between runs
        _timed_posts(gateway, headers, BODY, 200, CONCURRENCY)  # warm-up: pools, caches
        _timed_posts(direct, {"Authorization": f"Bearer {TOKEN}"}, direct_body, 200, CONCURRENCY)

        direct_lat, _ = _timed_posts(direct, {"Authorization": f"Bearer {TOKEN}"}, direct_body, 500, 1)
        serial_lat, _ = _timed_posts(gateway, headers, BODY, 500, 1)
        records = _wait_for_records(database_url, records + 200 + 500)
        before = _transactions(database_url)
        loaded_lat, elapsed = _timed_posts(gateway, headers, BODY, REQUESTS, CONCURRENCY)
        answered = time.perf_counter()
        _wait_for_records(database_url, records + REQUESTS)
        record_lag = time.perf_counter() - answered
        time.sleep(1.0)  # pg_stat_database is updated asynchronously
        per_request = (_transactions(database_url) - before) / REQUESTS
        streams = _held_streams(f"http://{BIND}", key, emulator, server.pid)
        ingestion = _rag_ingestion(f"http://{BIND}", headers)
        images = image_rows(f"http://{BIND}", headers, f"{emulator.base_url}/accounts/{ACCOUNT}/ai/run", TOKEN)
        audio = audio_rows(f"http://{BIND}", headers, f"{emulator.base_url}/accounts/{ACCOUNT}/ai/run", TOKEN)
        routing = routing_rows(f"http://{BIND}", headers, emulator.openai_base_url, TOKEN, env)
        responses = responses_rows(f"http://{BIND}", headers)
        vector_stores = vector_store_rows(f"http://{BIND}", headers)
    finally:
        for process in (server, writer, worker):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        emulator.stop()

    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "",
        f"Command: `{_bench_env()}make bench` (bench/run.py). Server: gunicorn -c config/gunicorn.conf.py "
        f"({model}); emulator on loopback, zero latency.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| emulator direct, serial: p50 / p95 | {_ms(direct_lat)} |",
        f"| through the gateway, serial: p50 / p95 | {_ms(serial_lat)} |",
        f"| gateway overhead, serial p50 | {statistics.median(serial_lat) - statistics.median(direct_lat):.2f} ms |",
        f"| {CONCURRENCY} concurrent clients: p50 / p95 | {_ms(loaded_lat)} |",
        f"| throughput at {CONCURRENCY} clients | {REQUESTS / elapsed:.0f} req/s |",
        f"| database transactions per request (ledger writer included) | {per_request:.3f} |",
        f"| last usage record in the database, after the last answer | {record_lag * 1000:.0f} ms |",
        f"| {STREAMS} streams of ~2 s opened at once: completed / wall time | {streams[0]} / {streams[1]:.1f} s |",
        f"| gunicorn RSS (master + workers) while holding them | {streams[2]:.0f} MB |",
        f"| RAG ingestion, {INGEST_DOCUMENTS} documents of ~{INGEST_CHUNKS} chunks, 4 clients | "
        f"{ingestion[0]:.0f} chunks/s ({ingestion[1]:.2f} s a document) |",
        *audio,
        *images,
        *routing,
        *responses,
        *vector_stores,
        "",
    ]
    report = "\n".join(lines)
    print(report)
    results = ROOT / "bench" / "results.md"
    with results.open("a") as handle:
        handle.write(report + "\n")


INGEST_DOCUMENTS = 20
INGEST_CHUNKS = 100


def _rag_ingestion(base: str, headers: dict[str, str]) -> tuple[float, float]:
    """Chunks per second through POST /v1/rag/documents (chunking, embedding by the emulator at zero
    latency, storing with the HNSW index), documents posted by 4 clients at once."""
    sentence = "Bench sentence {i} of document {d} about gateways, vectors and latency. "
    texts = ["".join(sentence.format(i=i, d=d) for i in range(INGEST_CHUNKS * 11)) for d in range(INGEST_DOCUMENTS)]

    def one(index: int) -> tuple[int, float]:
        started = time.perf_counter()
        answer = requests.post(
            f"{base}/v1/rag/documents",
            json={"text": texts[index], "document_id": f"bench-{index}", "namespace": "bench"},
            headers=headers,
            timeout=300,
        )
        answer.raise_for_status()
        return answer.json()["chunks_processed"], time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(one, range(INGEST_DOCUMENTS)))
    elapsed = time.perf_counter() - started
    return sum(chunks for chunks, _ in done) / elapsed, statistics.median(seconds for _, seconds in done)


def _held_streams(base: str, key: str, emulator: WorkersAIEmulator, pid: int) -> tuple[int, float, float]:
    """STREAMS streams opened at once, each ~2 s long upstream: how many complete, how long all of
    them take (over ~2 s means streams queued for a free server thread), memory meanwhile."""
    emulator.set_latency(per_chunk=0.4)
    body = {**BODY, "stream": True}

    def one(_: int) -> bool:
        response = requests.post(
            f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        return response.status_code == 200 and response.content.endswith(b"data: [DONE]\n\n")

    started = time.perf_counter()
    with ThreadPoolExecutor(STREAMS) as pool:
        futures = [pool.submit(one, index) for index in range(STREAMS)]
        time.sleep(1.0)
        rss = _rss_mb(pid)
        completed = sum(future.result() for future in futures)
    elapsed = time.perf_counter() - started
    emulator.set_latency()
    return completed, elapsed, rss


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not come up")


if __name__ == "__main__":
    main()
