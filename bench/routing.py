"""Routing under `make bench` (bench/run.py calls `routing_rows` with its running server), issue 12.

Providers and routes are made as an operator makes them: a route file applied by
`manage.py import_routes` on the bench database. Then, serially on one keep-alive connection,
BENCH_ROUTING_REQUESTS (300) requests per figure after a warm-up, the compared calls taking turns:
- chat through an `openai_compatible` provider pointed at the emulator's generic OpenAI base
  against the same body posted straight there: the gateway's overhead on that provider kind;
- a name with two healthy routes against one with a single route to the same upstream model (and
  gpt-4's single route): the cooldown read, one Redis MGET, that only names with several routes pay;
- fallback from a route whose provider refuses the connection to a healthy Workers AI route: the
  requests that fail over until the route cools down (GATEWAY_COOLDOWN_FAILURES of them), then
  those that skip it while it cools, with bench-one's single route between them as the reference.
The usage records are read back after each part; a record naming another route or attempt count
than expected prints a warning (the figure would be of the wrong path) without stopping the run.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_ROUTING_REQUESTS", "300"))
WARMUP = 50
MODEL = "@cf/meta/llama-3.1-8b-instruct-fp8"
MESSAGES = [{"role": "user", "content": "hi"}]

ROUTE_FILE = """\
providers:
  - {{name: bench-openai, kind: openai_compatible, base_url: "{openai_base}"}}
  - {{name: bench-refused, kind: openai_compatible, base_url: "http://127.0.0.1:{refused_port}/v1"}}
routes:
  - {{public_name: bench-oc, task: chat, provider: bench-openai, upstream_model: "{model}"}}
  - {{public_name: bench-one, task: chat, provider: workers-ai, upstream_model: "{model}"}}
  - {{public_name: bench-two, task: chat, provider: workers-ai, upstream_model: "{model}", priority: 0}}
  - {{public_name: bench-two, task: chat, provider: bench-openai, upstream_model: "{model}", priority: 1}}
  - {{public_name: bench-fallback, task: chat, provider: bench-refused, upstream_model: "{model}", priority: 0}}
  - {{public_name: bench-fallback, task: chat, provider: workers-ai, upstream_model: "{model}", priority: 1}}
"""

# The server was started before this module runs, without a GATEWAY_PROVIDER_… variable for
# bench-openai, so its token is stored in the row (encrypted), as the admin's token field does.
# BENCH_PROVIDER names another provider (bench/compare.py's).
STORE_TOKEN = """\
import os
from gateway.models import Provider
provider = Provider.objects.get(name=os.environ.get("BENCH_PROVIDER", "bench-openai"))
provider.api_token = os.environ["BENCH_PROVIDER_TOKEN"]
provider.save()
"""

# The admin's "end cooldown" action: a fresh start for the fallback figures, whatever an earlier
# run or the warm-up left in Redis.
CLEAR_COOLDOWN = """\
import os
from gateway.catalog import cooldown
cooldown.clear(int(route_id) for route_id in os.environ["BENCH_ROUTE_IDS"].split(","))
"""


def _manage(env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**env, **(extra or {})},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _route_ids(database_url: str) -> dict[tuple[str, str], int]:
    """(public name, provider) → route id, for the bench's own names."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.public_name, p.name, r.id FROM gateway_modelroute r "
            "JOIN gateway_provider p ON p.id = r.provider_id WHERE r.public_name = ANY(%s)",
            (["bench-oc", "bench-one", "bench-two", "bench-fallback", "gpt-4"],),
        ).fetchall()
    return {(name, provider): route_id for name, provider, route_id in rows}


def _records(database_url: str, request_ids: list[str]) -> dict[str, tuple[int | None, str, int, int]]:
    """request id → (route id, provider, attempts, status), once the ledger writer stored them all
    (it works behind the answers), or what is there after 60 s."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT request_id, route_id, provider, attempts, status FROM gateway_usagerecord "
                "WHERE request_id = ANY(%s)",
                (request_ids,),
            ).fetchall()
        if len(rows) >= len(request_ids) or time.monotonic() > deadline:
            return {row[0]: tuple(row[1:]) for row in rows}
        time.sleep(0.05)


def _check(
    database_url: str, label: str, request_ids: list[str], route_id: int | None, provider: str, attempts: int
) -> None:
    """Print a warning when a request's usage record is missing or names another route or attempts."""
    found = _records(database_url, request_ids)
    wrong = [
        (request_id, found.get(request_id))
        for request_id in request_ids
        if found.get(request_id) != (route_id, provider, attempts, 200)
    ]
    if wrong:
        request_id, record = wrong[0]
        print(
            f"WARNING routing bench, {label}: {len(wrong)} of {len(request_ids)} usage records differ from "
            f"route {route_id} on {provider}, {attempts} attempt(s), 200; e.g. {request_id}: "
            f"{record or 'no record'} (route, provider, attempts, status)",
            flush=True,
        )


def _caller(
    session: requests.Session, url: str, body: dict, headers: dict[str, str]
) -> Callable[[], tuple[float, str]]:
    def call() -> tuple[float, str]:
        started = time.perf_counter()
        response = session.post(url, json=body, headers=headers, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} {body.get('model')}: {response.status_code}: {response.text[:200]}")
        return elapsed, response.headers.get("x-request-id", "")

    return call


def _alternate(calls: list[Callable[[], tuple[float, str]]], count: int) -> list[tuple[list[float], list[str]]]:
    """Each call `count` times, taking turns, so that drift on a shared machine falls on all alike."""
    for _ in range(WARMUP):
        for call in calls:
            call()
    results: list[tuple[list[float], list[str]]] = [([], []) for _ in calls]
    for _ in range(count):
        for call, (latencies, request_ids) in zip(calls, results, strict=True):
            elapsed, request_id = call()
            latencies.append(elapsed)
            request_ids.append(request_id)
    return results


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def routing_rows(base: str, headers: dict[str, str], upstream: str, token: str, env: dict[str, str]) -> list[str]:
    """`upstream`: the emulator's generic OpenAI base; `env`: the environment run.py gives its
    manage.py commands (the bench database and Redis)."""
    database_url = env["DATABASE_URL"]
    # Bound and never listening: a connection to it is refused at once, and no other process can
    # take the port while the bench runs.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "bench-routes.yaml"
            path.write_text(ROUTE_FILE.format(openai_base=upstream, refused_port=refused.getsockname()[1], model=MODEL))
            _manage(env, "import_routes", str(path))
        _manage(env, "shell", "-c", STORE_TOKEN, extra={"BENCH_PROVIDER_TOKEN": token})
        ids = _route_ids(database_url)
        with requests.Session() as session:  # one connection: every request reaches the same worker
            return _rows(session, base, headers, upstream, token, env, ids)
    finally:
        refused.close()


def _rows(
    session: requests.Session,
    base: str,
    headers: dict[str, str],
    upstream: str,
    token: str,
    env: dict[str, str],
    ids: dict[tuple[str, str], int],
) -> list[str]:
    database_url = env["DATABASE_URL"]
    chat = f"{base}/v1/chat/completions"

    def through(name: str) -> Callable[[], tuple[float, str]]:
        return _caller(session, chat, {"model": name, "messages": MESSAGES, "max_tokens": 16}, headers)

    # 1. an openai_compatible provider against the same body straight to the emulator
    direct = _caller(
        session,
        f"{upstream}/chat/completions",
        {"model": MODEL, "messages": MESSAGES, "max_tokens": 16},
        {"Authorization": f"Bearer {token}"},
    )
    (oc_lat, oc_ids), (direct_lat, _) = _alternate([through("bench-oc"), direct], REQUESTS)
    _check(database_url, "bench-oc", oc_ids, ids[("bench-oc", "bench-openai")], "bench-openai", 1)

    # 2. two healthy routes (one MGET of their cooldown state) against one route, same upstream model
    (two_lat, two_ids), (one_lat, one_ids), (gpt4_lat, gpt4_ids) = _alternate(
        [through("bench-two"), through("bench-one"), through("gpt-4")], REQUESTS
    )
    _check(database_url, "bench-two", two_ids, ids[("bench-two", "workers-ai")], "workers-ai", 1)
    _check(database_url, "bench-one", one_ids, ids[("bench-one", "workers-ai")], "workers-ai", 1)
    _check(database_url, "gpt-4", gpt4_ids, ids[("gpt-4", "workers-ai")], "workers-ai", 1)

    # 3. fallback from a refused connection, then the route skipped while it cools down
    failures = int(env.get("GATEWAY_COOLDOWN_FAILURES", "3"))
    fallback_ids = f"{ids[('bench-fallback', 'bench-refused')]},{ids[('bench-fallback', 'workers-ai')]}"
    healthy = ids[("bench-fallback", "workers-ai")]
    fallback = through("bench-fallback")
    _manage(env, "shell", "-c", CLEAR_COOLDOWN, extra={"BENCH_ROUTE_IDS": fallback_ids})
    for _ in range(max(failures, 1) + WARMUP):  # warms the failing path too: then a fresh start
        fallback()
    _manage(env, "shell", "-c", CLEAR_COOLDOWN, extra={"BENCH_ROUTE_IDS": fallback_ids})
    # bench-one takes turns with it: a reference taken at the same moments as the few failovers
    reference = through("bench-one")
    answered, alongside = [], []
    for _ in range(REQUESTS):
        answered.append(fallback())
        alongside.append(reference()[0])
    if failures > 0:
        failing, skipping = answered[:failures], answered[failures:]
        _check(database_url, "bench-fallback failing over", [rid for _, rid in failing], healthy, "workers-ai", 2)
        _check(database_url, "bench-fallback, cooling", [rid for _, rid in skipping], healthy, "workers-ai", 1)
        fallback_row = (
            f"| fallback, first route refused: the {failures} requests failing over (attempts 2), each / "
            f"the next {len(skipping)} while it cools down (skipped) p50 / bench-one between them p50 | "
            f"{', '.join(f'{ms:.2f}' for ms, _ in failing)} / {statistics.median(ms for ms, _ in skipping):.2f} / "
            f"{statistics.median(alongside):.2f} ms |"
        )
    else:  # GATEWAY_COOLDOWN_FAILURES=0: no cooldown, every request fails over
        _check(database_url, "bench-fallback failing over", [rid for _, rid in answered], healthy, "workers-ai", 2)
        fallback_row = (
            f"| fallback, first route refused, cooldown off: every request failing over (attempts 2) p50 / "
            f"bench-one between them p50 | {statistics.median(ms for ms, _ in answered):.2f} / "
            f"{statistics.median(alongside):.2f} ms |"
        )
    _manage(env, "shell", "-c", CLEAR_COOLDOWN, extra={"BENCH_ROUTE_IDS": fallback_ids})

    oc, straight = statistics.median(oc_lat), statistics.median(direct_lat)
    two, one, gpt4 = statistics.median(two_lat), statistics.median(one_lat), statistics.median(gpt4_lat)
    return [
        f"| chat through an openai_compatible provider (the emulator's OpenAI base), {REQUESTS} serial: "
        f"gateway / direct p50 (p95), overhead p50 | {oc:.2f} / {straight:.2f} ms "
        f"({_p95(oc_lat):.2f} / {_p95(direct_lat):.2f} ms), {oc - straight:.2f} ms |",
        f"| chat, a name of two healthy routes / one route, same model / gpt-4 (one route) p50, "
        f"two − one (the cooldown MGET) | {two:.2f} / {one:.2f} / {gpt4:.2f} ms, {two - one:.2f} ms |",
        fallback_row,
    ]
