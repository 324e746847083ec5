"""A process's metric increments, gathered without I/O and sent to Redis by a flusher thread.

gateway/accounting/metrics.py says what is recorded and renders it; this module holds what every
recording goes through: one Redis hash for every process (each sample a field), increments
gathered per process in a pending Batch (a dict update under a lock), and the Flusher that sends
them in one MULTI/EXEC at most every GATEWAY_METRICS_FLUSH_SECONDS (metrics.py's docstring tells
why, and what happens when Redis is away or a process forks or exits).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger("gateway.accounting.metrics")


@dataclass(frozen=True)
class Family:
    name: str
    type: str  # counter, histogram or gauge
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


def redis_client() -> Any:
    return cache._cache.get_client(write=True)  # the raw redis-py client of the Django cache


def hash_key() -> str:
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
    key = hash_key()
    with redis_client().pipeline(transaction=True) as pipe:
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
