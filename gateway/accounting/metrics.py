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
counter reset. The gathering and the flusher live in gateway/accounting/metric_batches.py; this
module names the families, records a request's samples and renders them.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING

from django.conf import settings

from gateway.accounting import spool
from gateway.accounting.metric_batches import FLUSHER, Batch, Family, hash_key, redis_client

if TYPE_CHECKING:
    from gateway.accounting.entry import UsageEntry

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


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
    for raw_field, raw_value in redis_client().hgetall(hash_key()).items():
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
