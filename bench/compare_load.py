"""The load generators and meters of `make bench-compare` (bench/compare.py): wrk for requests,
bench/stream_load.py (a process of its own) for streams, CPU time over process trees, and the
gateway's Redis commands and database transactions read from outside it.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
RAMP = 1.0  # stream clients start spread over this many seconds
# Streams still unfinished this long after a row's end are cut and counted as errors: an overloaded
# target (LiteLLM at 1,000 slow streams) would otherwise hold a row for minutes.
DRAIN = 30.0

WRK_SCRIPT = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


@dataclass(frozen=True)
class Load:
    """What a load generator saw in one row."""

    requests: int  # answered or failed
    rate: float  # requests or whole streams per second
    p50_ms: float
    p99_ms: float
    errors: int
    first_p50_ms: float | None = None
    first_p99_ms: float | None = None
    unfinished: int = 0  # streams cut DRAIN seconds after the row (counted among the errors)
    first_error: str = ""


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, body: dict, key: str, connections: int, seconds: int) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(json.dumps(body)), key=key))
    threads = min(connections, 2)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url]
    try:
        ran = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.unlink(script.name)
    if ran.returncode:
        raise RuntimeError(f"wrk against {url} failed ({ran.returncode}):\n{ran.stdout}{ran.stderr}")
    out = ran.stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    done = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if set(latency) != {"50", "99"} or done is None:
        raise RuntimeError(f"wrk against {url} printed no latency distribution:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    )
    answered = int(done.group(1))
    return Load(
        requests=answered,
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        # wrk prints 0 for the percentiles of no requests at all
        p50_ms=_duration_ms(latency["50"]) if answered else float("nan"),
        p99_ms=_duration_ms(latency["99"]) if answered else float("nan"),
        errors=errors,
        first_error=socket_errors.group(0) if socket_errors else (non_2xx.group(0) if non_2xx else ""),
    )


def stream_load(url: str, body: dict, key: str, clients: int, seconds: float, ramp: float = RAMP) -> Load:
    arguments = {"url": url, "body": body, "key": key, "clients": clients, "seconds": seconds, "ramp": ramp}
    arguments["drain"] = DRAIN
    command = [sys.executable, "-m", "bench.stream_load", json.dumps(arguments)]
    ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if ran.returncode:
        raise RuntimeError(f"bench/stream_load.py against {url} failed ({ran.returncode}):\n{ran.stderr}")
    result = json.loads(ran.stdout)
    nan = float("nan")
    return Load(
        requests=result["streams"] + result["errors"],
        rate=result["streams_per_s"],
        p50_ms=result["duration_ms"]["p50"] or nan,
        p99_ms=result["duration_ms"]["p99"] or nan,
        errors=result["errors"],
        first_p50_ms=result["first_byte_ms"]["p50"] or nan,
        first_p99_ms=result["first_byte_ms"]["p99"] or nan,
        unfinished=result["unfinished"],
        first_error=result["first_error"],
    )


def cpu_times(roots: list[int]) -> dict[int, float]:
    """pid → user + system CPU seconds, over the process trees under `roots`."""
    times: dict[int, float] = {}
    for root in roots:
        try:
            parent = psutil.Process(root)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                spent = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            times[process.pid] = spent.user + spent.system
    return times


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children: the load generators, each run to its end."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Counters:
    """The gateway's Redis commands and database transactions, read from outside the gateway."""

    def __init__(self, database_base_url: str, redis_address: str, database: str) -> None:
        # Statistics are read over a connection to the maintenance database, so reading them adds
        # no transaction to the bench database's own count.
        self.pg = psycopg.connect(database_base_url, autocommit=True)
        self.redis = redis.Redis.from_url(redis_address)
        self.database = database

    def transactions(self) -> int:
        self.pg.execute("SELECT pg_stat_clear_snapshot()")
        row = self.pg.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (self.database,)
        ).fetchone()
        return int(row[0]) if row else 0

    def redis_commands(self) -> tuple[int, int]:
        """(all commands, EVAL and EVALSHA calls). Redis counts each command a script runs as well
        as the script's own call, so the first is Redis work, not round trips; the second is the
        number of scripts."""
        stats = self.redis.info("commandstats")
        scripts = sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha"))
        # The INFO that took the previous reading counts in this one: one command of ours a reading.
        return sum(int(stat["calls"]) for stat in stats.values()) - 1, scripts

    def settle(self, quiet: float = 1.5, limit: float = 60) -> None:
        """Wait until the bench database's transaction count has stood still for `quiet` seconds:
        the ledger writer has stored what the last row spooled, and Postgres (which publishes a
        backend's counts up to a second late) shows it."""
        deadline = time.monotonic() + limit
        last, since = self.transactions(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.transactions()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def close(self) -> None:
        self.pg.close()
        self.redis.close()


def quiesce(roots: list[int], upstream_port: int, below: float = 0.1, limit: float = 90) -> None:
    """Wait until these process trees use under `below` cores and the fake upstream has no stream
    under way: a target still working off the streams a previous row cut (LiteLLM and the gateway
    after 1,000 slow streams) would otherwise be measured busy."""
    deadline, busy, streams = time.monotonic() + limit, 0.0, 0
    while time.monotonic() < deadline:
        before = cpu_times(roots)
        time.sleep(0.5)
        busy = cpu_delta(before, cpu_times(roots)) / 0.5
        streams = requests.get(f"http://127.0.0.1:{upstream_port}/health", timeout=5).json()["streams"]
        if busy < below and not streams:
            return
    print(f"WARNING: {busy:.2f} cores busy, {streams} upstream streams after {limit:.0f} s", flush=True)
