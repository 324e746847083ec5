"""The durable spool between a settled request and its UsageRecord row, and the lease of every
request still running.

Settling never writes to Postgres. One Redis script closes the request's lease, hands its unused
reservations back and appends its record to a stream, all or nothing; the ledger writer
(gateway/accounting/ledger_writer.py, `manage.py ledger_writer`, started by `make run`) drains the
stream into the database in batches. Nothing is lost while Postgres is away: entries stay in the
stream until a batch holding them has committed.

A lease says "this request is running". It is opened when a /v1/ request arrives, carries what
admission reserved (written in the same script as the reservation), and is renewed by a heartbeat
thread of the process serving it. A process killed outright stops renewing: once the lease has
expired, the writer reaps it — releases its reservations and spools an `interrupted` record in
one script — and leaves a tombstone, so a request that was only slow settles nothing twice.

Redis keys go through the cache's prefix (CACHE_KEY_PREFIX), like every other key of the gateway.
The scripts touch several keys at once, so they need one Redis, not a cluster.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from gateway import stamps
from gateway.accounting import counters
from gateway.accounting.counters import Counter

log = logging.getLogger(__name__)

GROUP = "ledger-writers"
_TOMBSTONE_SECONDS = 24 * 3600  # far longer than any request can outlive its lease


def _key(name: str) -> str:
    return cache.make_and_validate_key(name)


def stream_key() -> str:
    return _key("ledger:spool:v1")


def _leases_key() -> str:
    return _key("ledger:leases:v1")  # sorted set: request id → expiry (unix seconds)


def _lease_data_key() -> str:
    return _key("ledger:lease-data:v1")  # hash: request id → {"row": …, "reserved": [[key, amount]…]}


def _tombstone_key(request_id: str) -> str:
    return _key(f"ledger:reaped:v1:{request_id}")


def lease_seconds() -> float:
    return settings.GATEWAY_LEDGER_LEASE_SECONDS


# --- settle ------------------------------------------------------------------------------------

# KEYS: leases, lease data, tombstone, stream, last-used marker, counters…
# ARGV: request id, row JSON, the marker's lifetime (0: no key to mark), a delta per counter.
# A reaped request (tombstone) was recorded and released already: nothing more happens.
# Returns 0 then, else 1, or 2 when the marker was absent: the key's last_used_at is due a write.
_COMMIT = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], ARGV[i - 2])
  end
end
if ARGV[2] ~= '' then
  redis.call('XADD', KEYS[4], '*', 'row', ARGV[2])
end
if ARGV[3] ~= '0' and redis.call('SET', KEYS[5], 1, 'NX', 'EX', ARGV[3]) then
  return 2
end
return 1
"""

SPOOLED, TOUCH_DUE = 1, 2


def commit(
    request_id: str,
    row: dict[str, Any] | None,
    deltas: Sequence[tuple[Counter, int]],
    touch: tuple[str, int] | None = None,
) -> int:
    """Close the lease, correct the reservations by `deltas`, spool the record (None: no record):
    one step. `touch`: the key's last-used marker and its lifetime, set in the same step when absent.

    0 when the request had been reaped as interrupted (its record is that one), else SPOOLED, or
    TOUCH_DUE when the marker was set. Raises the Redis client's error when Redis cannot be
    reached; the caller then writes the row itself.
    """
    deltas = [(counter, delta) for counter, delta in deltas if delta]
    marker, lifetime = touch if touch is not None else (_key("lastused:none"), 0)
    keys = [_leases_key(), _lease_data_key(), _tombstone_key(request_id), stream_key(), marker]
    keys += [counter.redis_key for counter, _ in deltas]
    args: list[Any] = [request_id, json.dumps(row, separators=(",", ":")) if row is not None else "", lifetime]
    args += [delta for _, delta in deltas]
    return int(counters.run_script(_COMMIT, keys, args))


# --- leases ------------------------------------------------------------------------------------


def open_lease(request_id: str, row: dict[str, Any]) -> None:
    """The request is running: recorded as interrupted unless it settles or renews in time."""
    client = counters.redis()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(_leases_key(), {request_id: time.time() + lease_seconds()})
    pipe.hset(_lease_data_key(), request_id, json.dumps({"row": row, "reserved": []}, separators=(",", ":")))
    pipe.execute()
    KEEPER.keep(request_id)


def extend_lease(request_id: str, seconds: float) -> None:
    """The lease now ends `seconds` from now (work handed to another process: accounting/handoff.py)."""
    counters.redis().zadd(_leases_key(), {request_id: time.time() + seconds}, xx=True, gt=True)


def admission_keys() -> tuple[str, str, str]:
    """The keys admission's script reads and writes besides the counters (gateway/accounting/counters.py)."""
    return stamps.stamps_key(), _leases_key(), _lease_data_key()


def lease_data(row: dict[str, Any], reserved: Sequence[tuple[Counter, int]] = ()) -> str:
    """The lease's data once the key and the model are known; `reserved` is what admission holds.
    Admission opens the lease with it in the script that reserves."""
    pairs = [[counter.redis_key, amount] for counter, amount in reserved if amount]
    return json.dumps({"row": row, "reserved": pairs}, separators=(",", ":"))


class LeaseKeeper:
    """Renews the leases of this process's running requests, every third of a lease.

    One daemon thread per process, started by the first lease (so after gunicorn forks). A request
    that settles is forgotten; a process that dies takes its renewals with it, which is the point.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, None] = {}
        self._pid = 0

    def keep(self, request_id: str) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
                self._pid = os.getpid()
                self._live = {}
                threading.Thread(target=self._renew_forever, name="ledger-lease-keeper", daemon=True).start()
            self._live[request_id] = None

    def holds(self, request_id: str) -> bool:
        return request_id in self._live

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._live.pop(request_id, None)

    def renew(self) -> None:
        with self._lock:
            live = list(self._live)
        if live:
            expiry = time.time() + lease_seconds()
            # XX: a lease the writer reaped (or that settled meanwhile) is not brought back. GT: a
            # renewal racing a hand-off (accounting/handoff.py) never shortens its longer lease.
            counters.redis().zadd(_leases_key(), dict.fromkeys(live, expiry), xx=True, gt=True)

    def _renew_forever(self) -> None:
        while True:
            time.sleep(max(lease_seconds() / 3, 0.05))
            try:
                self.renew()
            except Exception:
                log.warning("could not renew request leases", exc_info=True)


KEEPER = LeaseKeeper()

# KEYS: leases, lease data, tombstone, stream.  ARGV: request id, now (unix seconds), tombstone TTL.
# Returns 1 when this call reaped the lease, 0 when it was renewed or settled meanwhile.
_REAP = """
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
local raw = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], 1, 'EX', ARGV[3])
local lease = {row = {request_id = ARGV[1]}, reserved = {}}
if raw then
  lease = cjson.decode(raw)
end
for _, pair in ipairs(lease.reserved) do
  if redis.call('EXISTS', pair[1]) == 1 then
    redis.call('DECRBY', pair[1], pair[2])
  end
end
local row = lease.row
row.status = 500
row.error_code = 'interrupted'
row.interrupted_at = tonumber(ARGV[2])
redis.call('XADD', KEYS[4], '*', 'row', cjson.encode(row))
return 1
"""


def reap_expired(now: float | None = None, limit: int = 200) -> int:
    """Record every request whose lease expired as interrupted and release what it held."""
    now = time.time() if now is None else now
    client = counters.redis()
    expired = client.zrangebyscore(_leases_key(), "-inf", now, start=0, num=limit)
    reaped = 0
    for raw_id in expired:
        request_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
        keys = [_leases_key(), _lease_data_key(), _tombstone_key(request_id), stream_key()]
        reaped += int(counters.run_script(_REAP, keys, [request_id, now, _TOMBSTONE_SECONDS]))
    return reaped


# --- the stream, read by the writer --------------------------------------------------------------


@dataclass(frozen=True)
class Spooled:
    entry_id: str
    row: dict[str, Any]


def _decode(entries: list[Any]) -> list[Spooled]:
    spooled = []
    for entry_id, fields in entries:
        if not fields:  # claimed after its deletion: written already
            continue
        raw = fields.get(b"row") if b"row" in fields else fields.get("row")
        ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        spooled.append(Spooled(ident, json.loads(raw)))
    return spooled


def ensure_group() -> None:
    from redis.exceptions import ResponseError

    try:
        counters.redis().xgroup_create(stream_key(), GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read(consumer: str, count: int, block_ms: int | None, stale_ms: int) -> list[Spooled]:
    """Entries another writer took and left unacknowledged for `stale_ms` first, then new ones,
    waiting up to `block_ms` for them (None: not at all)."""
    from redis.exceptions import ResponseError

    try:
        return _read(consumer, count, block_ms, stale_ms)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group()  # a Redis that restarted without persistence lost the group with the stream
        return _read(consumer, count, block_ms, stale_ms)


def _read(consumer: str, count: int, block_ms: int | None, stale_ms: int) -> list[Spooled]:
    client = counters.redis()
    claimed = client.xautoclaim(stream_key(), GROUP, consumer, min_idle_time=stale_ms, start_id="0-0", count=count)
    if claimed[1]:
        return _decode(claimed[1])
    answer = client.xreadgroup(GROUP, consumer, {stream_key(): ">"}, count=count, block=block_ms)
    return _decode(answer[0][1]) if answer else []


def acknowledge(entries: Sequence[Spooled]) -> None:
    if entries:
        ids = [entry.entry_id for entry in entries]
        pipe = counters.redis().pipeline(transaction=True)
        pipe.xack(stream_key(), GROUP, *ids)
        pipe.xdel(stream_key(), *ids)
        pipe.execute()


def backlog() -> int:
    """Records spooled and not yet written (written entries are deleted from the stream)."""
    return int(counters.redis().xlen(stream_key()))


def spooled_rows() -> list[dict[str, Any]]:
    """Every record still in the spool: budgets count them (gateway/accounting/quotas.py)."""
    return [entry.row for entry in _decode(counters.redis().xrange(stream_key(), "-", "+"))]
