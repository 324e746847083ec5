"""The table `make bench-compare` prints and appends to bench/results.md (bench/compare.py)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bench.compare_load import DRAIN, RAMP

if TYPE_CHECKING:
    from bench.compare import Mode, Row, Target


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _peer(targets: list[Target], name: str, row: Row) -> Row | None:
    for target in targets:
        if target.name == name:
            for other in target.rows:
                if other.mode == row.mode and other.clients == row.clients:
                    return other
    return None


def _redis_busy(row: Row) -> bool:
    """The idle rate before the row, kept up over the row, would be over a tenth of its count."""
    if row.redis_per_request is None or row.redis_idle_per_s is None:
        return False
    return row.redis_idle_per_s * row.wall > 0.1 * row.redis_per_request * row.load.requests


def _redis_cell(row: Row) -> str:
    if row.redis_per_request is None:
        return "—"
    scripts = f" ({row.redis_scripts_per_request:.1f} scripts)" if row.redis_scripts_per_request else ""
    idle = f", idle {row.redis_idle_per_s:.0f}/s" if _redis_busy(row) else ""
    return f"{row.redis_per_request:.1f}{scripts}{idle}"


def line(row: Row, targets: list[Target]) -> str:
    litellm, direct = _peer(targets, "litellm", row), _peer(targets, "direct", row)
    ratio = (
        f"{row.load.rate / litellm.load.rate:.1f}×" if litellm and litellm.load.rate and row.target == "gateway" else ""
    )
    added = ""
    if direct and row.target != "direct":
        # Streams: the first byte is what the target adds to; their duration is mostly the pacing.
        mine = row.load.first_p50_ms if row.mode.kind == "stream" else row.load.p50_ms
        theirs = direct.load.first_p50_ms if row.mode.kind == "stream" else direct.load.p50_ms
        known = mine is not None and theirs is not None and not math.isnan(mine - theirs)
        added = f"{mine - theirs:+.2f} ms" if known else ""  # type: ignore[operator]
    rate = f"{row.load.rate:,.0f}" if row.load.rate >= 100 else f"{row.load.rate:,.1f}"
    errors = f"{row.load.errors} ({row.load.unfinished} cut)" if row.load.unfinished else str(row.load.errors)
    rss = " / ".join(f"{mb:.0f}" for mb in row.rss_mb) + " MB" if row.rss_mb else "—"
    return (
        f"| {row.target} | {row.mode.name} | {row.clients} | {rate} | {_ms(row.load.p50_ms)} | "
        f"{_ms(row.load.p99_ms)} | {_ms(row.load.first_p50_ms)} | {_ms(row.load.first_p99_ms)} | "
        f"{errors} | {row.cpu_target:.2f} | {_number(row.cpu_upstream)} / {row.cpu_load:.2f} | {rss} | "
        f"{_redis_cell(row)} | {_number(row.transactions_per_request, 3)} | {ratio} | {added} |"
    )


def report(
    targets: list[Target], modes: tuple[Mode, ...], elapsed: float, commit: str, server: str, seconds: int, slow: int
) -> str:
    rows = sorted(
        (row for target in targets for row in target.rows),
        key=lambda row: (modes.index(row.mode), row.clients, [t.name for t in targets].index(row.target)),
    )
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — gateway beside LiteLLM 1.108.7 and direct (`make bench`, "
        f"bench/compare.py), commit {commit}, "
        f"{os.cpu_count()} cores",
        "",
        "One fake upstream in its own process (bench/fake_upstream.py, asyncio; pacing by upstream model name); "
        f"the gateway on gunicorn -c config/gunicorn.conf.py ({server}) with the ledger writer, a key "
        "with RPM/TPM limits; "
        "LiteLLM's proxy with 2 workers, master key, no database; direct = the fake upstream itself. Load: wrk "
        "for chat and embeddings; bench/stream_load.py (asyncio, a process of its own) for streams, client "
        f"starts spread over {RAMP:.0f} s, streams under way at the end finished and counted, those unfinished "
        f"{DRAIN:.0f} s later cut and counted as errors. {seconds} s a row, slow streams {slow} s, after "
        f"a warm-up in which every web worker served; {elapsed / 60:.1f} min in all.",
        "",
        "Rate: requests/s, or whole streams/s. p50/p99: the whole request or stream; a stream's percentiles "
        "are over the streams completed. CPU target: cores used by "
        "the target's process tree (gunicorn master, workers and ledger writer; LiteLLM's proxy and workers; "
        "direct: the fake upstream); CPU upstream / load: the fake upstream's and the load generator's. RSS: each "
        "web worker after the row. Redis: all Redis commands per request, ledger writer included (INFO "
        "commandstats, which counts each command a script runs besides the script's call: Redis work, not "
        "round trips), and in brackets the scripts (EVAL/EVALSHA) among them; this Redis is shared, so where "
        "the rate counted in the idle second before the row would be over a tenth of the row's count it is "
        "shown. DB: Postgres transactions per request in the bench "
        "database (pg_stat_database, once the ledger writer has stored the row's records). Added: p50 over "
        "direct (streams: first-byte p50).",
        "",
        "| target | mode | clients | rate | p50 | p99 | first byte p50 | first byte p99 | errors | CPU target | "
        "CPU upstream / load | RSS per worker | Redis cmds/req | DB xacts/req | ×LiteLLM | added over direct |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(line(row, targets) for row in rows),
    ]
    return "\n".join([*lines, ""])
