"""Prometheus metrics kept in Redis, so every gunicorn worker and the Celery worker add to one set.

Process-local registries would give each scrape one worker's numbers. Here every sample is a field
of one Redis hash: a request adds to it with HINCRBY / HINCRBYFLOAT in one MULTI pipeline (one round
trip, after the client has its answer, as a `usage.settle` step), and GET /metrics reads the hash
whole with HGETALL and renders the text exposition format. Histograms store each bucket's own count
and their sum in the same transaction; rendering makes the buckets cumulative and derives `_count`,
so a scrape never sees a count that disagrees with its buckets. Redis holds no persistence here:
its restart resets the counters, which Prometheus treats as an ordinary counter reset.
"""

from __future__ import annotations

import json
import logging
import math
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


class Batch:
    """Increments gathered for one MULTI/EXEC round trip."""

    def __init__(self) -> None:
        self.ints: dict[str, int] = defaultdict(int)
        self.floats: dict[str, float] = defaultdict(float)

    def count(self, family: Family, *labels: str, amount: int = 1) -> None:
        self.ints[_field(family, "", labels)] += amount

    def observe(self, family: Family, seconds: float, *labels: str) -> None:
        self.ints[_field(family, _bucket_of(family, seconds), labels)] += 1
        self.floats[_field(family, "sum", labels)] += seconds

    def send(self) -> None:
        if not self.ints and not self.floats:
            return
        key = _hash_key()
        with _redis().pipeline(transaction=True) as pipe:
            for field, amount in self.ints.items():
                pipe.hincrby(key, field, amount)
            for field, amount in self.floats.items():
                pipe.hincrbyfloat(key, field, amount)
            pipe.execute()


def observe(entry: UsageEntry) -> None:
    """A `usage.settle` step: one request's counts and timings, in one round trip."""
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

    Never raises: a refusal is answered whatever happens to the metrics store.
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
    """Every family in the text exposition format (version 0.0.4)."""
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
