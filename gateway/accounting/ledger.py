"""The usage ledger: exactly one UsageRecord per /v1/ request, whatever became of it.

`settle` runs once per request, after the client has its answer (a response's close(), a
stream's end). Its one Redis script closes the request's lease, hands unused reservations back
and spools the record (gateway/accounting/spool.py); the ledger writer puts spooled records into
Postgres in batches. With Redis away the record goes straight to Postgres, and with both away to
local disk (gateway/accounting/ledger_store.py), so a fault delays a record but never drops it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from gateway.access import failures
from gateway.accounting import ledger_store, metrics, request_log, spool
from gateway.accounting.entry import UsageEntry
from gateway.models import ApiKey

log = logging.getLogger(__name__)

_LAST_USED_EVERY = 60  # seconds: last_used_at is a hint, not worth a write per request


def record_row(entry: UsageEntry) -> dict[str, Any]:
    """The record as spooled: plain JSON, priced when it is written."""
    principal = entry.principal
    return {
        "request_id": entry.request_id,
        "api_key_id": principal.key_id if principal else None,
        "key_prefix": principal.prefix if principal else "",
        "endpoint": entry.endpoint,
        "public_model": entry.public_model,
        "upstream_model": entry.upstream_model,
        "provider": entry.provider,
        "status": entry.status,
        "error_code": entry.error_code,
        "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens,
        "latency_ms": entry.latency_ms,
        "ttft_ms": entry.ttft_ms,
        "streamed": entry.streamed,
        "client_disconnected": entry.client_disconnected,
        "cached": entry.cached,
        "usage_estimated": entry.usage_estimated,
        "audio_seconds": entry.audio_seconds,
        "images": entry.images,
        "characters": entry.characters,
        "route_id": entry.route_id,
        "attempts": entry.attempts,
        "created_at": time.time(),
    }


def settle(entry: UsageEntry) -> None:
    """The record, then what follows from it (key last-used, metrics, the request log).

    Each step is guarded on its own: the client already has its answer, so a failure is logged,
    never turned into a 500, and never stops the steps after it.
    """
    if entry.settled:
        return
    entry.settled = True
    # Work of failed attempts is work done: counted with the answer's (for limits and metrics too).
    entry.prompt_tokens += entry.failed_prompt_tokens
    entry.completion_tokens += entry.failed_completion_tokens
    entry.failed_prompt_tokens = entry.failed_completion_tokens = 0
    try:
        due = _record(entry) if not refused_for_its_key(entry) else _release(entry)
    finally:
        spool.KEEPER.forget(entry.request_id)
    for step in ((_touch_key,) if due else ()) + (metrics.observe, request_log.write):
        try:
            step(entry)
        except Exception:
            log.exception("usage step %s failed for %s", step.__name__, entry.request_id)


def refused_for_its_key(entry: UsageEntry) -> bool:
    """A request refused for its key (none, unknown, revoked, expired, too many failures): counted
    in the metrics and the request log, but no row in the ledger. No key owns it, and a database row
    for each would let anyone without a key fill the table (README "The ledger")."""
    return entry.principal is None and (entry.status == 401 or entry.error_code == failures.CODE)


def _release(entry: UsageEntry) -> bool:
    """Close a refused request's lease, if one was opened (non-model endpoints open it on arrival)."""
    if spool.KEEPER.holds(entry.request_id):
        spool.commit(entry.request_id, None, [])
    return False


def _record(entry: UsageEntry) -> bool:
    """Spools the record; True when the key's last_used_at is due a write (at most once a minute,
    decided in the same Redis step)."""
    row = record_row(entry)
    admission = entry.admission
    try:
        deltas = admission.deltas(entry) if admission is not None else []
    except Exception:
        # Usage could not be priced: hand the whole reservation back rather than keep it charged.
        log.exception("reservations of %s released unpriced", entry.request_id)
        deltas = admission.release() if admission is not None else []
    principal = entry.principal
    touch = None
    if principal is not None and principal.key_id:
        touch = (cache.make_and_validate_key(f"lastused:{principal.key_id}"), _LAST_USED_EVERY)
    try:
        return spool.commit(entry.request_id, row, deltas, touch) == spool.TOUCH_DUE
    except Exception:
        # Redis is away. The reservations stay with the lease, which the writer reaps (and
        # releases) once Redis is back; its `interrupted` record then loses to this one.
        log.warning("usage record %s written directly: the spool is unreachable", entry.request_id, exc_info=True)
        ledger_store.write_now(row)
        return False


def open_lease(request_id: str, endpoint: str) -> None:
    """A /v1/ request has arrived: from now on it is recorded even if its process dies."""
    try:
        spool.open_lease(request_id, {"request_id": request_id, "endpoint": endpoint, "started_at": time.time()})
    except Exception:
        log.warning("no lease for %s: Redis unreachable", request_id, exc_info=True)


def _touch_key(entry: UsageEntry) -> None:
    principal = entry.principal
    if principal and principal.key_id:
        ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())
