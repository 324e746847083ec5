"""Process-local copies of what every request reads — keys, the route table, prices — kept
current by version stamps in Redis, so the hot path reads them without a round trip.

An admin edit bumps its stamp once committed (gateway/signals.py). Each admission's one Redis
script returns the current stamps with its verdict (gateway/accounting/admission.py): a request
that finds a stamp moved drops this process's copies of that kind and is admitted again on fresh
data, before any upstream call, so an edit or a revocation still applies at once on every worker.
Any other read — a request no admission checks (GET /v1/models), the ledger writer, a Celery
task — re-reads the stamps first (one HMGET; once per request). A copy is loaded under a stamp
read before the load, so it is never older than its stamp; at worst it is reloaded once more.
A copy is also reloaded once it is MAX_AGE_SECONDS old: a change that bypassed the signals (a
queryset.update() in a shell) reaches every process within that, as it did before these copies.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.core.cache import cache

KINDS = ("keys", "routes", "prices")
_MAX_ENTRIES = 10_000  # per copy: keys presented (known or not) are client input
MAX_AGE_SECONDS = 60.0

T = TypeVar("T")


def stamps_key() -> str:
    return cache.make_and_validate_key("stamps:v1")  # hash: kind → version


def _redis() -> Any:
    return cache._cache.get_client(write=True)  # the raw redis-py client of the Django cache


class _Seen:
    """The stamps this process read last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, str] = {}


_seen = _Seen()
_copies: list[LocalCopies[Any]] = []
# How the current code's reads are vouched for: None outside a request (re-read the stamps at each
# read), ADMISSION (the request's admission checks them), or a request's own list (re-read once).
_ADMISSION: list[bool] = [True]
_scope: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("stamps_scope", default=None)


def bump(*kinds: str) -> None:
    """Data of these kinds changed (call once the change is committed and the shared snapshots are
    rewritten). A new random stamp, not a count: after a Redis restart a count would start over and
    could land on a value an idle process still holds."""
    _redis().hset(stamps_key(), mapping={kind: uuid.uuid4().hex[:16] for kind in kinds})


def decode(raw: Sequence[Any]) -> dict[str, str]:
    """Stamps as the admission script (or HMGET) returns them, in KINDS order."""
    values = [value.decode() if isinstance(value, bytes) else str(value or "0") for value in raw]
    return dict(zip(KINDS, values, strict=True))


def observe(stamps: dict[str, str]) -> None:
    """Stamps just read from Redis: drops this process's copies of every kind that moved."""
    with _seen.lock:
        moved = {kind for kind, value in stamps.items() if _seen.values.get(kind, value) != value}
        _seen.values = dict(stamps)
    for copies in _copies:
        if copies.kind in moved:
            copies.clear()


def _refresh() -> None:
    observe(decode(_redis().hmget(stamps_key(), KINDS)))


def current(kind: str) -> str:
    """The stamp of `kind` to read `kind`'s data under (see the module's docstring for when it is re-read)."""
    scope = _scope.get()
    if scope is None or not scope[0] or not _seen.values:
        _refresh()
        if scope is not None:
            scope[0] = True
    return _seen.values.get(kind, "0")


def moved_since_read(kind: str) -> bool:
    """Before a refusal decided on data of `kind`: a request refused before its admission would
    never have its stamps checked, so they are re-read now (refusals only: the cold path). True
    when `kind` moved; the caller reads the data again and decides again."""
    if _scope.get() is not _ADMISSION:
        return False  # read under stamps re-read for this very request already
    before = _seen.values.get(kind)
    _refresh()
    return _seen.values.get(kind) != before


@contextmanager
def checked_by_admission() -> Iterator[dict[str, str]]:
    """Around a request that admission will check: yields the stamps its data is read under (its
    admission compares them with Redis' and raises Stale on a difference)."""
    if not _seen.values:
        _refresh()
    token = _scope.set(_ADMISSION)
    try:
        yield dict(_seen.values)
    finally:
        _scope.reset(token)


@contextmanager
def request_scope() -> Iterator[None]:
    """Around a request no admission checks: its first read re-reads the stamps, the rest trust them."""
    token = _scope.set([False])
    try:
        yield
    finally:
        _scope.reset(token)


class LocalCopies(Generic[T]):
    """Values of one kind, each loaded once per stamp: `get(key)` calls `load(key, stamp)` on a miss
    or a moved stamp (a shared snapshot keyed by the stamp is then never one an edit made stale)."""

    def __init__(self, kind: str, load: Callable[[Hashable, str], T]) -> None:
        self.kind = kind
        self._load = load
        self._values: dict[Hashable, tuple[str, float, T]] = {}
        _copies.append(self)

    def get(self, key: Hashable = None) -> T:
        stamp = current(self.kind)
        held = self._values.get(key)
        now = time.monotonic()
        if held is not None and held[0] == stamp and now - held[1] < MAX_AGE_SECONDS:
            return held[2]
        value = self._load(key, stamp)
        if len(self._values) >= _MAX_ENTRIES:
            self._values = {}
        self._values[key] = (stamp, now, value)
        return value

    def clear(self) -> None:
        self._values = {}
