"""This gateway beside LiteLLM's proxy, on one fake upstream: `make bench-compare` (issue 15, first step).

One run on this machine: the emulator at zero latency serves the OpenAI REST shape
(`WorkersAIEmulator.openai_base_url`); the gateway runs the server command `make run` uses
(gunicorn, config/gunicorn.conf.py) with the ledger writer, every feature on (auth, limits, usage,
routing), its route `bench-oc` on an `openai_compatible` provider at that base; LiteLLM's proxy,
pinned to 1.108.7 (1.82.7 and 1.82.8 were compromised releases) in a virtualenv of its own under
DATA_DIR/bench, master key, no database, two workers like the gateway, its model at the same base.
wrk (Debian's package) drives each with the same non-streamed chat request at 1, 16 and 64
connections for BENCH_COMPARE_SECONDS (10) after a warm-up; the table (requests/s, p50, p99,
errors, the ratio to LiteLLM, the latency added over direct) is printed and appended to
bench/results.md. Streams, embeddings, CPU and memory per target come next (issue 15).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.routing import ROUTE_FILE, STORE_TOKEN, _manage  # noqa: E402
from bench.run import _KEY_LIMITS, ACCOUNT, TOKEN, _database_url, _wait_until_up  # noqa: E402
from config.embedded import postgres_url, redis_url  # noqa: E402
from config.paths import data_dir  # noqa: E402
from gateway.testing.emulator import WorkersAIEmulator  # noqa: E402

LITELLM = "litellm[proxy]==1.108.7"
GATEWAY_BIND = "127.0.0.1:8098"
LITELLM_PORT = 8097
MASTER_KEY = "sk-bench-master"
MODEL = "@cf/meta/llama-3.1-8b-instruct-fp8"
SECONDS = int(os.environ.get("BENCH_COMPARE_SECONDS", "10"))
CONNECTIONS = (1, 16, 64)
MESSAGES = [{"role": "user", "content": "hi"}]
WRK_SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


# Streams of about 20 chunks (the emulator's reply to this prompt: "Hello! You said:" and 16 words,
# one chunk a word) paced 5 ms apart, at 16 and 256 concurrent clients.
STREAM_PROMPT = " ".join(f"word{i}" for i in range(1, 17))
STREAM_PACE = 0.005
STREAM_CLIENTS = (16, 256)


@dataclass(frozen=True)
class Streams:
    per_second: float
    first_p50_ms: float
    first_p99_ms: float
    errors: int


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


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


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, body: dict, key: str, connections: int, seconds: int) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(json.dumps(body)), key=key))
    threads = min(connections, 2)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk against {url} printed no latency distribution:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_duration_ms(latency["50"]),
        p99_ms=_duration_ms(latency["99"]),
        errors=(int(errors.group(1)) if errors else 0)
        + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


async def _stream_load(url: str, body: dict, key: str, clients: int, seconds: float) -> Streams:
    """`clients` loops, each opening one stream after another until the time is up; the first body
    byte's delay and whole streams counted."""
    firsts: list[float] = []
    done = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def loop() -> None:
            nonlocal done, errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    async with client.stream("POST", url, json=body, headers=headers) as response:
                        first = True
                        async for _ in response.aiter_raw():
                            if first:
                                firsts.append((time.perf_counter() - started) * 1000)
                                first = False
                        if response.status_code != 200:
                            errors += 1
                            continue
                    done += 1
                except httpx.HTTPError:
                    errors += 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    return Streams(
        done / seconds, statistics.median(firsts) if firsts else float("nan"), _percentile(firsts, 0.99), errors
    )


def _start_gateway(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    manage = [sys.executable, str(ROOT / "manage.py")]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py",
         "--access-logfile", "/dev/null"],
        env=env, cwd=ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    writer = subprocess.Popen([*manage, "ledger_writer"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return [server, writer]


def _start_litellm(binary: Path, upstream: str, directory: Path) -> subprocess.Popen[bytes]:
    config = directory / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench-oc\n"
        f"    litellm_params: {{model: 'openai/{MODEL}', api_base: '{upstream}', api_key: '{TOKEN}'}}\n"
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


def main() -> None:
    directory = data_dir() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    binary = litellm_venv(directory)
    emulator = WorkersAIEmulator(account_id=ACCOUNT, token=TOKEN, port=0).start()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(postgres_url(data_dir())),
        "REDIS_URL": redis_url(data_dir()),
        "CACHE_KEY_PREFIX": "bench",
        "GATEWAY_CELERY_QUEUE": "bench",
        "CLOUDFLARE_API_BASE_URL": emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "GATEWAY_BIND": GATEWAY_BIND,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "seed_models", "-v", "0"], env=env, check=True, cwd=ROOT)
    routes = directory / "compare-routes.yaml"
    routes.write_text(ROUTE_FILE.format(openai_base=emulator.openai_base_url, refused_port=9, model=MODEL))
    _manage(env, "import_routes", str(routes))
    _manage(env, "shell", "-c", STORE_TOKEN, extra={"BENCH_PROVIDER_TOKEN": TOKEN})
    created = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "create_api_key", "bench-compare", *_KEY_LIMITS],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]
    processes = [*_start_gateway(env), _start_litellm(binary, emulator.openai_base_url, directory)]
    body = {"model": "bench-oc", "messages": MESSAGES, "max_tokens": 16}
    targets = {
        "direct": (f"{emulator.openai_base_url}/chat/completions", {**body, "model": MODEL}, TOKEN),
        "gateway": (f"http://{GATEWAY_BIND}/v1/chat/completions", body, key),
        "litellm": (f"http://127.0.0.1:{LITELLM_PORT}/v1/chat/completions", body, MASTER_KEY),
    }
    try:
        _wait_until_up(f"http://{GATEWAY_BIND}/healthz")
        _wait_for_litellm()
        results: dict[tuple[str, int], Load] = {}
        for name, (url, payload, token) in targets.items():
            wrk(url, payload, token, 16, 3)  # warm-up: pools, caches, imports
            for connections in CONNECTIONS:
                results[name, connections] = wrk(url, payload, token, connections, SECONDS)
                print(name, connections, results[name, connections], flush=True)
        emulator.set_latency(per_chunk=STREAM_PACE)
        streams: dict[tuple[str, int], Streams] = {}
        for name, (url, payload, token) in targets.items():
            streamed = {**payload, "messages": [{"role": "user", "content": STREAM_PROMPT}], "stream": True}
            for clients in STREAM_CLIENTS:
                streams[name, clients] = asyncio.run(_stream_load(url, streamed, token, clients, SECONDS))
                print(name, "streams", clients, streams[name, clients], flush=True)
    finally:
        for process in processes[:-1]:
            process.send_signal(signal.SIGTERM)
        os.killpg(processes[-1].pid, signal.SIGTERM)  # LiteLLM's uvicorn workers with it
        for process in processes:
            process.wait(60)
        emulator.stop()
    report = _report(results, streams)
    print(report)
    with (ROOT / "bench" / "results.md").open("a") as handle:
        handle.write(report + "\n")


def _wait_for_litellm() -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", timeout=2).ok:
                return
        except requests.RequestException:  # not listening yet, or still starting its workers
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("LiteLLM's proxy did not start within 120 s")
        time.sleep(0.5)


def _report(results: dict[tuple[str, int], Load], streams: dict[tuple[str, int], Streams]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — gateway beside LiteLLM 1.108.7 (`make bench-compare`), "
        f"commit {commit.strip()}, {os.cpu_count()} cores",
        "",
        f"Non-streamed chat, wrk for {SECONDS} s per row, one fake upstream (the emulator's OpenAI base at "
        "zero latency); the gateway on gunicorn (config/gunicorn.conf.py) with the ledger writer, "
        "LiteLLM's proxy with 2 workers, master key, no database.",
        "",
        "| target | connections | requests/s | p50 | p99 | errors | ×LiteLLM | added p50 over direct |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, connections), load in results.items():
        peer = results.get(("litellm", connections))
        direct = results.get(("direct", connections))
        ratio = f"{load.rps / peer.rps:.1f}×" if peer and name == "gateway" else ""
        added = f"{load.p50_ms - direct.p50_ms:+.2f} ms" if direct and name != "direct" else ""
        lines.append(
            f"| {name} | {connections} | {load.rps:,.0f} | {load.p50_ms:.2f} ms | {load.p99_ms:.2f} ms | "
            f"{load.errors} | {ratio} | {added} |"
        )
    lines += [
        "",
        f"Streams of ~20 chunks paced {STREAM_PACE * 1000:.0f} ms apart, each client opening one after another "
        f"for {SECONDS} s (an asyncio httpx client in the bench process):",
        "",
        "| target | clients | streams/s | first byte p50 | first byte p99 | errors | ×LiteLLM | added first-byte p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, clients), run in streams.items():
        peer, direct = streams.get(("litellm", clients)), streams.get(("direct", clients))
        ratio = f"{run.per_second / peer.per_second:.1f}×" if peer and peer.per_second and name == "gateway" else ""
        added = f"{run.first_p50_ms - direct.first_p50_ms:+.2f} ms" if direct and name != "direct" else ""
        lines.append(
            f"| {name} | {clients} | {run.per_second:,.1f} | {run.first_p50_ms:.1f} ms | {run.first_p99_ms:.1f} ms | "
            f"{run.errors} | {ratio} | {added} |"
        )
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    main()
