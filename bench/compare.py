"""This gateway beside LiteLLM's proxy and "direct", on one fake upstream: `make bench-compare`, and
the first part of `make bench` (issue 15).

Every process under test or doing the testing has an interpreter of its own, so a row measures its
target rather than the bench:
- the fake upstream (bench/fake_upstream.py, plain asyncio) on 127.0.0.1:8096, its pacing chosen by
  the upstream model name, so that all three targets get the same behaviour from the same body;
- the gateway under the server command `make run` uses (gunicorn -c config/gunicorn.conf.py) with
  `manage.py ledger_writer`, on 127.0.0.1:8098, every feature on: an API key with RPM/TPM limits
  (never reached), usage ledger, routing. Its routes are a route file applied with
  `manage.py import_routes`: one `openai_compatible` provider at the fake upstream, a public name a
  mode (ROUTE_FILE below), its token stored in the row as the admin's token field does;
- LiteLLM's proxy, pinned to 1.108.7 (1.82.7 and 1.82.8 were compromised releases) in a virtualenv
  of its own under DATA_DIR/bench, master key, no database, two workers like the gateway, the same
  public names mapped to `openai/<upstream model>` at the fake upstream, on 127.0.0.1:8097;
- "direct": the same bodies with the upstream model names, straight to the fake upstream;
- load: wrk (Debian's package) for non-streamed chat and embeddings, bench/stream_load.py (raw
  asyncio HTTP/1.1, a subprocess per row) for streams.

Modes (MODES): chat at 1, 16 and 64 connections; streams of 20 chunks × 5 ms at 16 and 256
clients; paced streams (50 × 40 ms, ~2 s) at 256; slow streams (50 × 200 ms, ~10 s) at 1,000;
embeddings at 16. Each row lasts BENCH_COMPARE_SECONDS (10), slow streams
BENCH_COMPARE_SLOW_SECONDS (20, so that each client completes two streams). Per row: requests or
streams per second, latency p50/p99 (streams: whole-stream duration), first byte p50/p99 (streams),
errors, CPU cores used by the target's whole process tree (user + system CPU time over the row's
wall time), by the fake upstream and by the load generator, RSS of each web worker after the row,
and for the gateway all Redis commands (INFO commandstats, the ledger writer's included) and
database transactions (pg_stat_database) per request. Before each row the target and the fake
upstream are left to go idle (streams an earlier row cut are worked off) and, for the gateway, the
ledger writer to store the previous row's records. The table, with the ratio to LiteLLM and the
latency added over direct, is printed and appended to bench/results.md with the commit and the
gunicorn worker model the run started from.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare_load import (  # noqa: E402
    Counters,
    Load,
    children_cpu,
    cpu_delta,
    cpu_times,
    quiesce,
    stream_load,
    wrk,
)
from bench.compare_report import line, report  # noqa: E402
from bench.routing import STORE_TOKEN, _manage  # noqa: E402
from bench.run import DB_NAME, TOKEN, _database_url, _wait_until_up, server_model  # noqa: E402
from config.embedded import postgres_url, redis_url  # noqa: E402
from config.paths import data_dir  # noqa: E402

LITELLM = "litellm[proxy]==1.108.7"
GATEWAY_BIND = "127.0.0.1:8098"
LITELLM_PORT = 8097
UPSTREAM_PORT = 8096
UPSTREAM = f"http://127.0.0.1:{UPSTREAM_PORT}/v1"
MASTER_KEY = "sk-bench-master"
PROVIDER = "bench-compare-upstream"
SECONDS = int(os.environ.get("BENCH_COMPARE_SECONDS", "10"))
SLOW_SECONDS = int(os.environ.get("BENCH_COMPARE_SLOW_SECONDS", "20"))
WARMUP_SECONDS = 2
KEY_LIMITS = ["--rpm", "100000000", "--tpm", "1000000000"]
MESSAGES = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Mode:
    name: str
    public: str  # the gateway's and LiteLLM's model name
    upstream: str  # the fake upstream's model name: its pacing
    clients: tuple[int, ...]
    kind: str  # "chat", "stream" or "embeddings"
    seconds: int = SECONDS

    def body(self, model: str) -> dict:
        if self.kind == "embeddings":
            return {"model": model, "input": "a short text to embed for the bench", "encoding_format": "float"}
        body: dict = {"model": model, "messages": MESSAGES, "max_tokens": 16}
        if self.kind == "stream":
            # Usage asked for by every client, as the gateway always asks its upstream for it.
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body

    @property
    def path(self) -> str:
        return "/v1/embeddings" if self.kind == "embeddings" else "/v1/chat/completions"


MODES = (
    Mode("chat", "compare-chat", "bench-zero", (1, 16, 64), "chat"),
    Mode("stream 20×5 ms", "compare-stream", "bench-stream-20x5", (16, 256), "stream"),
    Mode("paced 50×40 ms", "compare-paced", "bench-paced-50x40", (256,), "stream"),
    Mode("slow 50×200 ms", "compare-slow", "bench-slow-50x200", (1000,), "stream", SLOW_SECONDS),
    Mode("embeddings", "compare-embed", "bench-embed", (16,), "embeddings"),
)

# Names of their own: bench/routing.py's bench-oc is another route (to the Workers AI emulator).
ROUTE_FILE = f"""\
providers:
  - {{name: {PROVIDER}, kind: openai_compatible, base_url: "{UPSTREAM}"}}
routes:
  - {{public_name: compare-chat, task: chat, provider: {PROVIDER}, upstream_model: bench-zero}}
  - {{public_name: compare-stream, task: chat, provider: {PROVIDER}, upstream_model: bench-stream-20x5}}
  - {{public_name: compare-paced, task: chat, provider: {PROVIDER}, upstream_model: bench-paced-50x40}}
  - {{public_name: compare-slow, task: chat, provider: {PROVIDER}, upstream_model: bench-slow-50x200}}
  - {{public_name: compare-embed, task: embedding, provider: {PROVIDER}, upstream_model: bench-embed,
      output_dimensions: 8}}
"""


@dataclass
class Row:
    target: str
    mode: Mode
    clients: int
    load: Load
    cpu_target: float  # cores
    cpu_upstream: float | None  # None: the target is the upstream
    cpu_load: float
    rss_mb: list[float]
    redis_per_request: float | None = None
    redis_scripts_per_request: float | None = None  # EVAL/EVALSHA calls (their commands are counted too)
    redis_idle_per_s: float | None = None  # commands/s just before the row, nothing sent
    transactions_per_request: float | None = None
    wall: float = 0.0


@dataclass
class Target:
    name: str
    base: str  # scheme://host:port
    key: str
    roots: list[int]  # the pids whose process trees make up the target
    workers: Callable[[], list[psutil.Process]]
    model: Callable[[Mode], str]
    counters: bool = False  # Redis and Postgres counted (the gateway)
    rows: list[Row] = field(default_factory=list)


# --- set-up ---------------------------------------------------------------------------------------


def litellm_venv(directory: Path) -> Path:
    """The bench-only virtualenv with LiteLLM's proxy, made once (about a minute)."""
    venv = directory / "litellm-venv"
    binary = venv / "bin" / "litellm"
    stamp = venv / "installed.txt"
    if not (binary.exists() and stamp.exists() and stamp.read_text() == LITELLM):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM], check=True)
        stamp.write_text(LITELLM)
    return binary


def _refuse_busy_ports() -> None:
    """A server left on one of the bench's ports would be measured in place of the one started."""
    for port in (UPSTREAM_PORT, LITELLM_PORT, int(GATEWAY_BIND.rsplit(":", 1)[1])):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} is already in use: stop what listens there (an earlier bench?)")


def _start_upstream() -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.fake_upstream", "--port", str(UPSTREAM_PORT), "--token", TOKEN]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)


def _start_gateway(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    # `make run`'s server command (manage.py serve runs this line); its access log goes to stdout.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    writer = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "ledger_writer"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    return [server, writer]


def _start_litellm(binary: Path, directory: Path) -> subprocess.Popen[bytes]:
    config = directory / "litellm.yaml"
    models = "".join(
        f"  - model_name: {mode.public}\n"
        f"    litellm_params: {{model: 'openai/{mode.upstream}', api_base: '{UPSTREAM}', api_key: '{TOKEN}'}}\n"
        for mode in MODES
    )
    config.write_text(
        f"model_list:\n{models}"
        f"general_settings: {{master_key: '{MASTER_KEY}'}}\n"
        "litellm_settings: {telemetry: false}\n"
    )
    # Offline, as this machine is: LiteLLM would fetch its cost map from GitHub at start-up, and a
    # tokenizer from Hugging Face for every stream of a model name it does not know (each stream
    # then waits for that fetch to fail).
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "DISABLE_SCHEMA_UPDATE": "true",
    }
    command = [str(binary), "--config", str(config), "--port", str(LITELLM_PORT), "--num_workers", "2"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_for(url: str, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:  # not listening yet, or still starting its workers
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {seconds:.0f} s")
        time.sleep(0.3)


def _litellm_workers(pid: int) -> Callable[[], list[psutil.Process]]:
    """uvicorn's worker processes under the proxy (not multiprocessing's resource tracker)."""

    def workers() -> list[psutil.Process]:
        found = []
        for child in psutil.Process(pid).children(recursive=True):
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "resource_tracker" not in command and "semaphore_tracker" not in command:
                found.append(child)
        return found

    return workers


# --- measuring ------------------------------------------------------------------------------------


def measure(target: Target, mode: Mode, clients: int, upstream_pid: int, counters: Counters | None) -> Row:
    url = f"{target.base}{mode.path}"
    body = mode.body(target.model(mode))
    quiesce([*target.roots, upstream_pid], UPSTREAM_PORT)
    if counters is not None:
        counters.settle()
        # A second of nothing sent first: what the idle gateway (the ledger writer's polling) and
        # any other user of this Redis add, against which the row's count can be judged.
        idle, _ = counters.redis_commands()
        time.sleep(1.0)
        redis_before, transactions_before = counters.redis_commands(), counters.transactions()
        redis_idle = float(redis_before[0] - idle)
    cpu_before, upstream_before, load_before = cpu_times(target.roots), cpu_times([upstream_pid]), children_cpu()
    started = time.perf_counter()
    if mode.kind == "stream":
        load = stream_load(url, body, target.key, clients, mode.seconds)
    else:
        load = wrk(url, body, target.key, clients, mode.seconds)
    wall = time.perf_counter() - started
    cpu_after, upstream_after = cpu_times(target.roots), cpu_times([upstream_pid])
    is_upstream = target.roots == [upstream_pid]
    row = Row(
        target=target.name,
        mode=mode,
        clients=clients,
        load=load,
        cpu_target=cpu_delta(cpu_before, cpu_after) / wall,
        cpu_upstream=None if is_upstream else cpu_delta(upstream_before, upstream_after) / wall,
        cpu_load=(children_cpu() - load_before) / wall,
        rss_mb=[_rss_mb(process) for process in target.workers()],
        wall=wall,
    )
    if counters is not None and load.requests:
        counters.settle()
        redis_after = counters.redis_commands()
        row.redis_per_request = (redis_after[0] - redis_before[0]) / load.requests
        row.redis_scripts_per_request = (redis_after[1] - redis_before[1]) / load.requests
        row.redis_idle_per_s = redis_idle
        row.transactions_per_request = (counters.transactions() - transactions_before) / load.requests
    return row


def _rss_mb(process: psutil.Process) -> float:
    try:
        return process.memory_info().rss / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def warm_up(target: Target) -> None:
    """Every mode's path once under load, until each web worker has done work (CPU time spent)."""
    for _ in range(3):
        before = cpu_times(target.roots)
        for mode in MODES:
            body, url = mode.body(target.model(mode)), f"{target.base}{mode.path}"
            if mode.kind == "stream":
                if mode.upstream == MODES[1].upstream:  # paced and slow streams take the same path
                    stream_load(url, body, target.key, 16, WARMUP_SECONDS, ramp=0)
            else:
                wrk(url, body, target.key, 16, WARMUP_SECONDS)
        after = cpu_times(target.roots)
        idle = [p.pid for p in target.workers() if after.get(p.pid, 0.0) - before.get(p.pid, 0.0) < 0.2]
        if not idle:
            return
    print(f"WARNING {target.name}: worker(s) {idle} did almost nothing during the warm-up", flush=True)


# --- the run --------------------------------------------------------------------------------------


def main() -> None:
    _refuse_busy_ports()
    commit, server = _commit(), server_model()  # what the run starts from
    directory = data_dir() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    binary = litellm_venv(directory)
    database_url = _database_url(postgres_url(data_dir()))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url(data_dir()),
        "CACHE_KEY_PREFIX": "bench",
        "GATEWAY_CELERY_QUEUE": "bench",
        # The seeded Workers AI provider is not used here; it points at the fake upstream too.
        "CLOUDFLARE_API_BASE_URL": f"http://127.0.0.1:{UPSTREAM_PORT}",
        "CLOUDFLARE_ACCOUNT_ID": "bench-account",
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "GATEWAY_BIND": GATEWAY_BIND,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    _manage(env, "seed_models", "-v", "0")
    routes = directory / "compare-routes.yaml"
    routes.write_text(ROUTE_FILE)
    _manage(env, "import_routes", str(routes))
    _manage(env, "shell", "-c", STORE_TOKEN, extra={"BENCH_PROVIDER_TOKEN": TOKEN, "BENCH_PROVIDER": PROVIDER})
    created = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "create_api_key", "bench-compare", *KEY_LIMITS],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]

    upstream = _start_upstream()
    gateway = _start_gateway(env)
    litellm = _start_litellm(binary, directory)
    counters = Counters(postgres_url(data_dir()), redis_url(data_dir()), DB_NAME)
    gateway_master = gateway[0].pid
    targets = [
        Target("direct", f"http://127.0.0.1:{UPSTREAM_PORT}", TOKEN, [upstream.pid],
               lambda: [psutil.Process(upstream.pid)], lambda mode: mode.upstream),
        Target("gateway", f"http://{GATEWAY_BIND}", key, [gateway_master, gateway[1].pid],
               lambda: psutil.Process(gateway_master).children(), lambda mode: mode.public, counters=True),
        Target("litellm", f"http://127.0.0.1:{LITELLM_PORT}", MASTER_KEY, [litellm.pid],
               _litellm_workers(litellm.pid), lambda mode: mode.public),
    ]  # fmt: skip
    started = time.perf_counter()
    try:
        _wait_for(f"http://127.0.0.1:{UPSTREAM_PORT}/health", "the fake upstream", 30)
        _wait_until_up(f"http://{GATEWAY_BIND}/healthz")
        _wait_for(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", "LiteLLM's proxy")
        for target in targets:
            warm_up(target)
        # Mode by mode, the three targets in turn: drift on a shared machine falls on all alike.
        for mode in MODES:
            for clients in mode.clients:
                for target in targets:
                    row = measure(target, mode, clients, upstream.pid, counters if target.counters else None)
                    target.rows.append(row)
                    print(f"{line(row, targets)} {row.wall:.0f} s", flush=True)
                    if row.load.first_error:
                        print(f"  first error: {row.load.first_error}", flush=True)
    finally:
        for process in gateway:
            process.send_signal(signal.SIGTERM)
        os.killpg(litellm.pid, signal.SIGTERM)  # LiteLLM's uvicorn workers with it
        upstream.send_signal(signal.SIGTERM)
        for process in [*gateway, litellm, upstream]:
            process.wait(60)
        counters.close()
    table = report(targets, MODES, time.perf_counter() - started, commit, server, SECONDS, SLOW_SECONDS)
    print(table)
    with (ROOT / "bench" / "results.md").open("a") as handle:
        handle.write(table + "\n")


def _commit() -> str:
    """The checkout the servers start from, read before they start (a commit made while the bench
    runs is not what it measured)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return commit.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


if __name__ == "__main__":
    main()
