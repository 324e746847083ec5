"""Usage records into Postgres: a batch of spooled rows in one multi-row INSERT, idempotent.

Each row is what `settle` (gateway/accounting/ledger.py) spooled: the request's outcome, without
its cost, which is priced here from the price table once per batch. `request_id` is unique, so a
row written twice (a batch retried after its commit was lost, a writer that took over another's
entries) is skipped by ON CONFLICT DO NOTHING. Text is cut to its column and stripped of NUL,
which Postgres text cannot hold, so no client input can make a batch fail.

When neither Redis nor Postgres can be reached, settle appends the row to a local file under
DATA_DIR instead (`hold`); the writer moves it into the database once it can (`drain_held`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import CharField

from gateway.accounting import pricing
from gateway.accounting.pricing import Consumption, PriceRecord
from gateway.models import ApiKey, UsageRecord

log = logging.getLogger(__name__)

_TEXT_LIMITS = {
    field.name: field.max_length for field in UsageRecord._meta.get_fields() if isinstance(field, CharField)
}
_INT_MAX = 2_147_483_647  # Postgres integer
_SMALL_MAX = 32_767  # the status column


def _text(value: Any, field: str) -> str:
    return str(value or "").replace("\x00", "")[: _TEXT_LIMITS[field]]


def _count(value: Any, ceiling: int = _INT_MAX) -> int:
    return min(max(int(value or 0), 0), ceiling)


def _seconds(value: Any) -> float:
    seconds = float(value or 0)
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _record(row: dict[str, Any], prices: dict[str, PriceRecord], live_keys: set[int]) -> UsageRecord:
    prompt, completion = _count(row.get("prompt_tokens")), _count(row.get("completion_tokens"))
    audio_seconds, images, characters = (
        _seconds(row.get("audio_seconds")),
        _count(row.get("images")),
        _count(row.get("characters")),
    )
    used = Consumption(prompt, completion, audio_seconds, images, characters)
    cost = pricing.cost_of(row.get("upstream_model") or "", used, table=prices)
    cached = bool(row.get("cached"))
    key_id = row.get("api_key_id")
    stamp = row.get("created_at") or row.get("interrupted_at")
    ttft = row.get("ttft_ms")
    return UsageRecord(
        # A key deleted since its request ran: the record stays, as on_delete=SET_NULL would leave it.
        api_key_id=key_id if key_id in live_keys else None,
        key_prefix=_text(row.get("key_prefix"), "key_prefix"),
        endpoint=_text(row.get("endpoint"), "endpoint") or "unknown",
        public_model=_text(row.get("public_model"), "public_model"),
        upstream_model=_text(row.get("upstream_model"), "upstream_model"),
        provider=_text(row.get("provider"), "provider"),
        status=_count(row.get("status"), _SMALL_MAX),
        error_code=_text(row.get("error_code"), "error_code"),
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=min(prompt + completion, _INT_MAX),
        latency_ms=_count(row.get("latency_ms")),
        ttft_ms=None if ttft is None else _count(ttft),
        streamed=bool(row.get("streamed")),
        client_disconnected=bool(row.get("client_disconnected")),
        cached=cached,
        usage_estimated=bool(row.get("usage_estimated")),
        audio_seconds=audio_seconds,
        characters=characters,
        images=images,
        route_id=None if row.get("route_id") is None else _count(row.get("route_id")),
        attempts=_count(row.get("attempts"), _SMALL_MAX),
        # A cached answer spent nothing upstream: what it would have cost is recorded as saved.
        cost_usd=Decimal(0) if cached else cost,
        cost_saved_usd=(cost or Decimal(0)) if cached else Decimal(0),
        request_id=_text(row["request_id"], "request_id"),
        created_at=datetime.fromtimestamp(float(stamp), UTC) if stamp else datetime.now(UTC),
    )


def write_rows(rows: Sequence[dict[str, Any]]) -> None:
    """One transaction, one INSERT. Raises DatabaseError when the database cannot take them."""
    if not rows:
        return
    prices = pricing.price_table()
    with transaction.atomic():
        wanted = sorted({row["api_key_id"] for row in rows if row.get("api_key_id")})
        live: set[int] = set()
        if wanted:
            # FOR KEY SHARE holds the keys until commit, so none is deleted between this look and
            # the insert (the foreign key is checked at commit).
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id FROM {ApiKey._meta.db_table} WHERE id = ANY(%s) FOR KEY SHARE", [wanted])
                live = {key_id for (key_id,) in cursor.fetchall()}
        UsageRecord.objects.bulk_create([_record(row, prices, live) for row in rows], ignore_conflicts=True)


def write_each(rows: Sequence[dict[str, Any]]) -> None:
    """A batch the database refused as data (not as being away): each row on its own, and a row
    refused alone is set aside in a file and logged, so it cannot hold the rest back forever."""
    for row in rows:
        try:
            write_rows([row])
        except (DataError, IntegrityError):
            log.exception("usage record refused by the database; kept in %s", _rejected_path())
            _append(_rejected_path(), [row])


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DataError | IntegrityError)


# --- rows held on local disk while Redis and Postgres are both away --------------------------


def _spool_dir() -> Path:
    path = Path(settings.DATA_DIR) / "ledger-spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _held_path() -> Path:
    return _spool_dir() / "held.jsonl"


def _rejected_path() -> Path:
    return _spool_dir() / "rejected.jsonl"


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    # O_APPEND under an exclusive lock: processes on this machine append whole lines, and the
    # drain (which truncates under the same lock) never loses one written meanwhile.
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
        handle.flush()
        os.fsync(handle.fileno())


def hold(row: dict[str, Any]) -> None:
    _append(_held_path(), [row])


def drain_held() -> int:
    """Rows held on disk into the database; they stay on disk until that commits."""
    path = _held_path()
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        rows = [json.loads(line) for line in handle if line.strip()]
        try:
            write_rows(rows)
        except DatabaseError as exc:
            if not is_data_error(exc):
                raise
            write_each(rows)
        handle.truncate(0)
    return len(rows)


def write_now(row: dict[str, Any]) -> None:
    """Settle's way when Redis is away: straight into the database, else onto local disk."""
    try:
        write_rows([row])
    except Exception:
        log.warning("usage record %s held on disk: neither Redis nor the database took it", row.get("request_id"))
        hold(row)
