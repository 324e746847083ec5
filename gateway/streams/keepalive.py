"""Keep-alives for streams whose upstream goes quiet (a reasoning model thinking, say), and the
upstream closed as soon as the client is gone.

The upstream is read on a helper thread (a greenlet under gevent workers) that hands items over a
small bounded buffer; when nothing arrives for `interval` seconds the consumer yields KEEPALIVE,
which the endpoint writes as an SSE comment. Under gevent workers the helper is a bare greenlet and the
buffer gevent's own queue (compiled); elsewhere a thread, and a deque with an event and a semaphore
rather than queue.Queue: a chunk costs an append, a set and a release instead of a Condition's
lock and notify. Measured per relayed chunk under gevent: queue.Queue's hand-off was 15% of a
stream's CPU; the deque's ~20 µs, gevent's queue ~10 µs (bench/results.md).
Writing is also how a gone client is noticed: the server then closes the response, this
generator's `finally` runs and closes the upstream at once, which also wakes the helper should it
be blocked reading it.

`ClosingStream` covers what that cannot: a response closed before its generator reached the
upstream, opened before the generator ran — not started at all (close() runs no part of an
unstarted generator, `finally` included) or stopped before its first read. The upstream is then
closed explicitly instead of whenever the garbage collector frees it.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any, Final, TypeVar

T = TypeVar("T")


class Keepalive:
    def __repr__(self) -> str:
        return "KEEPALIVE"


KEEPALIVE: Final = Keepalive()
_END = object()


def close_upstream(source: object) -> None:
    """`source.close()`, if it has one, from a thread that may not be the one reading it.

    An upstream stream's close() is safe from any thread (gateway/providers/delta_stream.py
    DeltaStream); a plain generator being run by the reader refuses with ValueError, and the
    reader closes it itself, at its next item, as before.
    """
    close = getattr(source, "close", None)
    if close is None:
        return
    try:
        close()
    except ValueError:
        pass


class _Handoff:
    """Items from one producer to one consumer, at most `bound` waiting: the producer blocks beyond
    it, so the upstream is not read far ahead of a slow client."""

    def __init__(self, bound: int) -> None:
        self._items: deque[tuple[object, object]] = deque()
        self._ready = threading.Event()
        self._room = threading.Semaphore(bound)

    def put(self, item: tuple[object, object], timeout: float) -> bool:
        if not self._room.acquire(timeout=timeout):
            return False
        self._items.append(item)
        self._ready.set()
        return True

    def get(self, timeout: float) -> tuple[object, object] | None:
        """The next item, or None when none came within `timeout`."""
        if not self._items:
            self._ready.clear()
            # An item appended between the check and the clear is seen here; one appended after
            # sets the event again, so the wait cannot miss it.
            if not self._items and not self._ready.wait(timeout):
                return None
        item = self._items.popleft()
        self._room.release()
        return item


class _GreenHandoff:
    """_Handoff's contract on gevent's queue, for a process whose threads are greenlets."""

    def __init__(self, bound: int) -> None:
        from gevent import queue  # only where gevent runs the process

        self._queue: Any = queue.Queue(bound)
        self._full, self._empty = queue.Full, queue.Empty

    def put(self, item: tuple[object, object], timeout: float) -> bool:
        try:
            self._queue.put(item, timeout=timeout)
        except self._full:
            return False
        return True

    def get(self, timeout: float) -> tuple[object, object] | None:
        try:
            return self._queue.get(timeout=timeout)
        except self._empty:
            return None


def _green() -> bool:
    """Are this process's threads greenlets (gunicorn's gevent workers patch threading at boot)?"""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def with_keepalive(source: Iterator[T], interval: float) -> Iterator[T | Keepalive]:
    green = _green()
    handoff: _Handoff | _GreenHandoff = _GreenHandoff(64) if green else _Handoff(64)
    stopped = threading.Event()

    def offer(kind: object, value: object) -> None:
        while not stopped.is_set():
            if handoff.put((kind, value), timeout=0.25):
                return

    def pump() -> None:
        try:
            for item in source:
                if stopped.is_set():
                    break
                offer("item", item)
            offer(_END, None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            offer("error", exc)
        finally:
            close_upstream(source)

    if green:
        import gevent

        gevent.spawn(pump)  # a Thread object's own bookkeeping would cost more than the greenlet
    else:
        threading.Thread(target=pump, name="upstream-pump", daemon=True).start()
    try:
        while True:
            item = handoff.get(timeout=interval)
            if item is None:
                yield KEEPALIVE
                continue
            kind, value = item
            if kind is _END:
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stopped.set()
        close_upstream(source)  # should the pump be blocked reading it, that read returns now


class ClosingStream(Iterator[bytes]):
    """`frames`, whose close() also closes `upstreams`, however far the frames got.

    Django's StreamingHttpResponse calls close() on its content when the response is closed
    (https://docs.djangoproject.com/en/stable/ref/request-response/#streaminghttpresponse-objects):
    `frames` first, so a stream that had started ends as it would have (its usage record
    included), then each upstream, which that may already have closed (close() is idempotent).
    """

    def __init__(self, frames: Iterator[bytes], *upstreams: Any) -> None:
        self._frames = frames
        self._upstreams = upstreams

    def __next__(self) -> bytes:
        return next(self._frames)

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        try:
            if close is not None:
                close()
        finally:
            for upstream in self._upstreams:
                close_upstream(upstream)
