"""The ledger writer: spooled records into Postgres, interrupted requests recorded and released.

One loop (`manage.py ledger_writer`, which `make run` starts beside gunicorn):
- read up to a batch of spooled records (first any another writer left unacknowledged for a
  while), write them in one INSERT, then acknowledge and delete them from the stream. While the
  database is away the batch is retried with a growing pause and stays in the stream.
- every second, reap the leases that expired (gateway/accounting/spool.py);
- every few seconds, move rows held on local disk (Redis and Postgres both away) into Postgres.

Several writers may run (one per machine): the stream's consumer group hands each record to one of
them, and a record written twice is skipped on its unique request_id.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from functools import partial

from django.db import DatabaseError, close_old_connections

from gateway.accounting import ledger_store, spool

log = logging.getLogger(__name__)

BATCH = 500
_BLOCK_MS = 500
_STALE_MS = 30_000  # another writer's unacknowledged records are taken over after this long
# A short batch waits this long for company: under load one INSERT then carries ~50 ms of records
# instead of a handful, for a record that appears 50 ms later.
_LINGER = 0.05
_REAP_EVERY = 1.0
_DRAIN_EVERY = 5.0
_PAUSE_MAX = 5.0


def _retrying(stop: threading.Event, what: str, action: Callable[[], object]) -> bool:
    """Run `action` until it succeeds (True) or the writer is stopped (False)."""
    pause = 0.1
    while not stop.is_set():
        try:
            action()
            return True
        except Exception:
            log.warning("ledger writer: %s failed; retrying in %.1f s", what, pause, exc_info=True)
            close_old_connections()  # a connection broken by the outage is not reused
            stop.wait(pause)
            pause = min(pause * 2, _PAUSE_MAX)
    return False


def _write(rows: list[dict]) -> None:
    try:
        ledger_store.write_rows(rows)
    except DatabaseError as exc:
        if not ledger_store.is_data_error(exc):
            raise
        ledger_store.write_each(rows)


def _take(into: list[list[spool.Spooled]], consumer: str, batch: int, stop: threading.Event) -> None:
    entries = spool.read(consumer, batch, _BLOCK_MS, _STALE_MS)
    if entries and len(entries) < batch and not stop.wait(_LINGER):
        entries += spool.read(consumer, batch - len(entries), None, _STALE_MS)
    into.append(entries)


def run(stop: threading.Event, *, batch: int = BATCH) -> None:
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    _retrying(stop, "creating the consumer group", spool.ensure_group)
    next_reap = next_drain = 0.0
    while not stop.is_set():
        taken: list[list[spool.Spooled]] = []
        if not _retrying(stop, "reading the spool", partial(_take, taken, consumer, batch, stop)):
            break
        entries = taken[-1]
        if entries:
            rows = [entry.row for entry in entries]
            if not _retrying(stop, f"writing {len(rows)} usage records", partial(_write, rows)):
                break  # stopped: the records stay in the stream for the next writer
            _retrying(stop, "acknowledging written records", partial(spool.acknowledge, entries))
        now = time.monotonic()
        if now >= next_reap:
            next_reap = now + _REAP_EVERY
            try:
                reaped = spool.reap_expired()
                if reaped:
                    log.warning("ledger writer: %d request(s) found interrupted; recorded and released", reaped)
            except Exception:
                log.warning("ledger writer: reaping leases failed", exc_info=True)
        if now >= next_drain:
            next_drain = now + _DRAIN_EVERY
            try:
                if ledger_store.drain_held():
                    log.info("ledger writer: wrote usage records held on local disk")
            except Exception:
                log.warning("ledger writer: rows held on disk not written yet", exc_info=True)
