"""Prometheus metrics gathered in each process and published to one Redis hash, so every gunicorn
worker and the Celery worker add to one set.

Process-local registries would give each scrape one worker's numbers, so the samples live in
Redis: every sample is a field of one hash, and GET /metrics reads it whole with HGETALL and
renders the text exposition format. Writing to it once per request, though, put a Redis round trip
(a MULTI pipeline of HINCRBY / HINCRBYFLOAT) on every request's path, plus one per refusal and per
failed upstream attempt. So a request's increments go to this process's pending Batch instead — a
dict update under a lock, no I/O — and a flusher sends everything pending to the hash in one
MULTI/EXEC at most every GATEWAY_METRICS_FLUSH_SECONDS (1 s by default). Nothing per request talks
to Redis.

- The flusher is a daemon thread, started by the process's first increment (so after gunicorn or
  Celery forks; a forked child drops the increments it inherited, which are its parent's to send).
- A scrape first flushes its own process's pending increments, so the process that served a request
  reports it exactly; what other processes have pending shows within the flush interval.
- A flush that fails (Redis away) keeps its increments pending, merged with those recorded since,
  and the next flush sends them all. Pending fields are bounded (MAX_PENDING_FIELDS): once full,
  recordings that would add a field are dropped, and that is logged once per outage, so unbounded
  label growth cannot eat the memory.
- At exit (atexit) the process flushes once more, so a short-lived process (a management command,
  the Celery worker shutting down) loses nothing it can still send. A process killed outright
  (SIGKILL, OOM) loses what it had pending: at most one interval's increments.

Histograms store each bucket's own count and their sum; one observation's bucket and sum join the
pending batch together and are sent in the same transaction, so a scrape never sees a count that
disagrees with its buckets (rendering makes the buckets cumulative and derives `_count`). A Redis
without persistence resets the counters when it restarts, which Prometheus reads as an ordinary
counter reset.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache

from gateway.accounting import spool

if TYPE_CHECKING:
    from gateway.accounting.entry import UsageEntry

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Family:
    name: str
    type: str  # counter, histogram or gauge
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


REQUESTS = Family(
    "gateway_requests_total",
    "counter",
    "Requests to model endpoints, by endpoint, model and HTTP status.",
    ("endpoint", "model", "status"),
)
REQUEST_DURATION = Family(
    "gateway_request_duration_seconds",
    "histogram",
    "Time from the request to its answer (to the stream's end for streams).",
    ("endpoint", "model"),
    _LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Family(
    "gateway_time_to_first_token_seconds",
    "histogram",
    "Time from the request to the first generated token of a stream.",
    ("endpoint", "model"),
    _LATENCY_BUCKETS,
)
UPSTREAM_DURATION = Family(
    "gateway_upstream_duration_seconds",
    "histogram",
    "Time in the upstream call that decided the answer (to the response headers for streams).",
    ("provider", "upstream_model"),
    _LATENCY_BUCKETS,
)
TOKENS = Family(
    "gateway_tokens_total",
    "counter",
    "Tokens the upstream processed (cached answers excluded), by endpoint, model and kind.",
    ("endpoint", "model", "kind"),
)
RATE_LIMIT_REFUSALS = Family(
    "gateway_rate_limit_refusals_total",
    "counter",
    "Requests refused by the gateway's own limits, by limit kind.",
    ("kind",),
)
UPSTREAM_FAILURES = Family(
    "gateway_upstream_failures_total",
    "counter",
    "Upstream attempts that failed in a way worth another route, by error kind (gateway/providers/base.py).",
    ("provider", "upstream_model", "kind"),
)
UPSTREAM_RETRIES = Family(
    "gateway_upstream_retries_total",
    "counter",
    "Upstream attempts beyond a request's first (fallbacks to other routes and retries).",
    ("endpoint", "model"),
)
ROUTE_COOLDOWN = Family(
    "gateway_route_cooldown_seconds",
    "gauge",
    "Seconds left of a model route's cooldown (0: not cooling), per route served.",
    ("route_id", "public_name", "provider", "upstream_model"),
)
IMAGE_JOBS_QUEUED = Family(
    "gateway_image_jobs_queued",
    "gauge",
    "Image generation jobs waiting in the Celery queue.",
    (),
)
LEDGER_SPOOLED = Family(
    "gateway_ledger_spooled_records",
    "gauge",
    "Usage records settled and not yet written to the database by the ledger writer.",
    (),
)
FAMILIES = (
    REQUESTS,
    REQUEST_DURATION,
    TIME_TO_FIRST_TOKEN,
    UPSTREAM_DURATION,
    TOKENS,
    RATE_LIMIT_REFUSALS,
    UPSTREAM_FAILURES,
    UPSTREAM_RETRIES,
    IMAGE_JOBS_QUEUED,
    LEDGER_SPOOLED,
)
_STORED = {family.name: family for family in FAMILIES if family.type != "gauge"}
# ROUTE_COOLDOWN is rendered by its owner, gateway/catalog/cooldown.py, after these (gauge_lines).


# --- Recording ------------------------------------------------------------------------------------


def _redis() -> Any:
    return cache._cache.get_client(write=True)  # the raw redis-py client of the Django cache


def _hash_key() -> str:
    return cache.make_key("metrics")  # under the cache prefix, so test runs stay apart


def _field(family: Family, part: str, labels: tuple[str, ...]) -> str:
    if len(labels) != len(family.labels):
        raise ValueError(f"{family.name} takes labels {family.labels}, got {labels}")
    return json.dumps([family.name, part, *labels], separators=(",", ":"))


def _bucket_of(family: Family, seconds: float) -> str:
    for bound in family.buckets:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


# A recording that would take this process's pending fields past this is dropped (Redis away, or
# labels growing without bound). Normal traffic pends tens to hundreds between flushes.
MAX_PENDING_FIELDS = 10_000


class Batch:
    """Increments gathered together: one recording (a request's, a refusal's), or all those this
    process has pending. `send()` hands a recording to the flusher."""

    def __init__(self) -> None:
        self.ints: dict[str, int] = defaultdict(int)
        self.floats: dict[str, float] = defaultdict(float)

    def __len__(self) -> int:
        return len(self.ints) + len(self.floats)  # fields: a field is an int or a float, never both

    def count(self, family: Family, *labels: str, amount: int = 1) -> None:
        self.ints[_field(family, "", labels)] += amount

    def observe(self, family: Family, seconds: float, *labels: str) -> None:
        self.ints[_field(family, _bucket_of(family, seconds), labels)] += 1
        self.floats[_field(family, "sum", labels)] += seconds

    def new_fields(self, other: Batch) -> int:
        """How many fields `other` has that this batch has not."""
        return sum(field not in self.ints for field in other.ints) + sum(
            field not in self.floats for field in other.floats
        )

    def absorb(self, other: Batch) -> None:
        for field, amount in other.ints.items():
            self.ints[field] += amount
        for field, value in other.floats.items():
            self.floats[field] += value

    def send(self) -> None:
        """Add these increments to this process's pending ones (no I/O): the flusher sends them."""
        FLUSHER.add(self)


def _write(batch: Batch) -> None:
    """One MULTI/EXEC: every increment of the batch, or (on an error) none of them."""
    key = _hash_key()
    with _redis().pipeline(transaction=True) as pipe:
        for field, amount in batch.ints.items():
            pipe.hincrby(key, field, amount)
        for field, value in batch.floats.items():
            pipe.hincrbyfloat(key, field, value)
        pipe.execute()


def flush_seconds() -> float:
    return settings.GATEWAY_METRICS_FLUSH_SECONDS


class Flusher:
    """This process's pending increments, and the daemon thread that sends them to Redis.

    `_lock` guards the pending batch and is held for dict updates only: recording never waits on
    Redis. `_sending` lets one flush run at a time, so a scrape's flush waits for one under way and
    then reads a hash holding everything this process recorded before it.
    """

    def __init__(self) -> None:
        self._start_afresh()

    def _start_afresh(self) -> None:
        """The state of a process that has recorded nothing (also a forked child's, via os.register_at_fork:
        locks held by the parent's other threads at the fork would stay held in the child)."""
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._pending = Batch()
        self._in_flight = 0  # fields of the batch a flush is sending: they come back if it fails
        self._pid = 0  # the process whose increments _pending holds; 0: none recorded yet
        self._last_flush = time.monotonic()
        self._failures = 0  # flushes failed in a row
        self._dropped = 0  # recordings dropped since the last successful flush

    def add(self, batch: Batch) -> None:
        if not batch:
            return
        with self._lock:
            if self._pid != os.getpid():
                self._claim()
            if len(self._pending) + self._in_flight + self._pending.new_fields(batch) > MAX_PENDING_FIELDS:
                if not self._dropped:
                    log.warning(
                        "metrics: %s fields pending (Redis unreachable, or labels without bound); "
                        "dropping recordings that add fields until a flush succeeds",
                        len(self._pending) + self._in_flight,
                    )
                self._dropped += 1
                return
            self._pending.absorb(batch)

    def _claim(self) -> None:
        """Under the lock: the first increment of this process starts its flusher. After a fork
        that os.register_at_fork did not see, the increments inherited are the parent's to send."""
        self._pid = os.getpid()
        self._pending = Batch()
        self._in_flight = 0
        self._last_flush = time.monotonic()
        try:
            threading.Thread(target=self._flush_forever, name="metrics-flusher", daemon=True).start()
        except RuntimeError:  # the interpreter is shutting down: the exit flush sends them
            log.warning("metrics flusher not started", exc_info=True)

    def flush(self, *, due_only: bool = False, wait: float = -1) -> None:
        """Send everything pending in one MULTI/EXEC.

        `due_only`: only if the last flush is GATEWAY_METRICS_FLUSH_SECONDS old (the thread's check,
        made under the lock, so a shorter interval read earlier cannot slip a flush in). `wait`:
        seconds to wait for a flush under way (-1: as long as it takes); then nothing is sent.
        On an error the increments stay pending, with those recorded meanwhile, and it is raised.
        """
        if not self._sending.acquire(timeout=wait):
            return
        try:
            with self._lock:
                if self._pid != os.getpid():
                    return  # nothing recorded in this process
                if due_only and time.monotonic() - self._last_flush < flush_seconds():
                    return
                batch, self._pending = self._pending, Batch()
                self._in_flight = len(batch)
                self._last_flush = time.monotonic()
            try:
                if batch:
                    _write(batch)
            except BaseException as exc:
                with self._lock:
                    batch.absorb(self._pending)
                    self._pending, self._in_flight = batch, 0
                    self._failures += 1
                    first = self._failures == 1
                if first:
                    log.warning("metrics not sent, kept pending until Redis answers: %s", type(exc).__name__)
                raise
            with self._lock:
                self._in_flight = 0
                failures, dropped = self._failures, self._dropped
                self._failures = self._dropped = 0
            if failures:
                log.info("metrics sent again after %s failed flushes", failures)
            if dropped:
                log.warning("metrics: %s recordings were dropped while the pending fields were full", dropped)
        finally:
            self._sending.release()

    def _flush_forever(self) -> None:
        while True:
            # At most a second's sleep, so a changed interval (a test's override) is seen.
            time.sleep(max(0.0, min(self._last_flush + flush_seconds() - time.monotonic(), 1.0)))
            try:
                self.flush(due_only=True)
            except Exception:
                pass  # logged once per outage by flush(); retried at the next interval

    def flush_at_exit(self) -> None:
        try:
            self.flush(wait=5)
        except Exception:
            log.warning("metrics pending at exit could not be sent", exc_info=True)


FLUSHER = Flusher()
atexit.register(FLUSHER.flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FLUSHER._start_afresh)


def observe(entry: UsageEntry) -> None:
    """A `usage.settle` step: one request's counts and timings, added to this process's pending
    increments (no round trip; the flusher sends them)."""
    # The model label only once the name resolved to a route: requested names are client input,
    # and an unknown name per request would grow the hash (and Prometheus' series) without bound.
    model = entry.public_model if entry.upstream_model else ""
    batch = Batch()
    batch.count(REQUESTS, entry.endpoint, model, str(entry.status))
    batch.observe(REQUEST_DURATION, entry.latency_ms / 1000, entry.endpoint, model)
    if entry.ttft_ms is not None:
        batch.observe(TIME_TO_FIRST_TOKEN, entry.ttft_ms / 1000, entry.endpoint, model)
    if entry.upstream_latency_ms is not None and entry.upstream_model:
        batch.observe(UPSTREAM_DURATION, entry.upstream_latency_ms / 1000, entry.provider, entry.upstream_model)
    if entry.prompt_tokens and not entry.cached:
        batch.count(TOKENS, entry.endpoint, model, "prompt", amount=entry.prompt_tokens)
    if entry.completion_tokens and not entry.cached:
        batch.count(TOKENS, entry.endpoint, model, "completion", amount=entry.completion_tokens)
    if entry.attempts > 1:
        batch.count(UPSTREAM_RETRIES, entry.endpoint, model, amount=entry.attempts - 1)
    batch.send()


def count_refusal(kind: str) -> None:
    """One request refused by a gateway limit of this kind (e.g. "rpm", "tpm", "quota").

    Never raises: a refusal is answered whatever happens to the metrics.
    """
    try:
        batch = Batch()
        batch.count(RATE_LIMIT_REFUSALS, kind)
        batch.send()
    except Exception:
        log.exception("counting a %s refusal failed", kind)


# --- Rendering ------------------------------------------------------------------------------------


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{name}="{_escape_label(value)}"' for name, value in zip(names, values, strict=True)) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _stored_samples() -> dict[str, dict[tuple[str, ...], dict[str, float]]]:
    """family name → label values → part ("" for counters, a bucket bound or "sum") → value."""
    samples: dict[str, dict[tuple[str, ...], dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for raw_field, raw_value in _redis().hgetall(_hash_key()).items():
        try:
            name, part, *labels = json.loads(raw_field)
            family = _STORED[name]
        except (ValueError, KeyError, TypeError):
            continue  # written by another version of this module: not ours to render
        if len(labels) == len(family.labels):
            samples[name][tuple(labels)][part] = float(raw_value)
    return samples


def _render_family(family: Family, series: dict[tuple[str, ...], dict[str, float]]) -> list[str]:
    lines = [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.type}"]
    for labels in sorted(series):
        parts = series[labels]
        if family.type == "counter":
            lines.append(f"{family.name}{_labels_text(family.labels, labels)} {_number(parts.get('', 0))}")
            continue
        cumulative = 0.0
        bucket_names = (*family.labels, "le")
        for bound in (*(repr(b) for b in family.buckets), "+Inf"):
            cumulative += parts.get(bound, 0)
            lines.append(f"{family.name}_bucket{_labels_text(bucket_names, (*labels, bound))} {_number(cumulative)}")
        lines.append(f"{family.name}_sum{_labels_text(family.labels, labels)} {_number(parts.get('sum', 0))}")
        lines.append(f"{family.name}_count{_labels_text(family.labels, labels)} {_number(cumulative)}")
    return lines


# Short timeouts and no retries: a scrape or a readiness probe must answer, not wait on the broker.
BROKER_PROBE_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2, "max_retries": 0}


def image_jobs_queued() -> int | None:
    """Length of the Celery queue (a Redis list in the broker, where image jobs wait); None when the
    broker does not answer. Jobs already taken by a worker are not in the list."""
    from kombu import Connection

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2, transport_options=BROKER_PROBE_OPTIONS) as conn:
            return int(conn.default_channel.client.llen(queue))
    except Exception as exc:
        log.warning("image job queue depth unavailable: %s", type(exc).__name__)
        return None


def ledger_spooled() -> int | None:
    """The spool's length (gateway/accounting/spool.py): growing means the ledger writer is behind,
    stopped, or cannot reach the database."""
    try:
        return spool.backlog()
    except Exception as exc:
        log.warning("ledger spool length unavailable: %s", type(exc).__name__)
        return None


_GAUGES = {IMAGE_JOBS_QUEUED.name: image_jobs_queued, LEDGER_SPOOLED.name: ledger_spooled}


def gauge_lines(family: Family, samples: list[tuple[tuple[str, ...], float]]) -> list[str]:
    """A labelled gauge's exposition lines (HELP, TYPE, one line per sample)."""
    lines = [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} gauge"]
    lines += [f"{family.name}{_labels_text(family.labels, labels)} {_number(value)}" for labels, value in samples]
    return lines


def render() -> str:
    """Every family in the text exposition format (version 0.0.4).

    This process's pending increments are sent first, so what it recorded is all there; other
    processes' show within GATEWAY_METRICS_FLUSH_SECONDS. Raises when Redis cannot be reached.
    """
    FLUSHER.flush()
    stored = _stored_samples()
    lines: list[str] = []
    for family in FAMILIES:
        if family.type == "gauge":
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} gauge"]
            value = _GAUGES[family.name]()
            if value is not None:
                lines.append(f"{family.name} {value}")
            continue
        lines += _render_family(family, stored.get(family.name, {}))
    return "\n".join(lines) + "\n"
