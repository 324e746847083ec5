"""Keep-alives for streams whose upstream goes quiet (a reasoning model thinking, say).

The upstream is read on a helper thread that hands items over a small queue; when nothing arrives
for `interval` seconds the consumer yields KEEPALIVE, which the endpoint writes as an SSE comment.
Writing is also how a gone client is noticed: the server then closes the response, this
generator's `finally` runs, and the helper closes the upstream at its next item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Final, TypeVar

T = TypeVar("T")


class _Keepalive:
    def __repr__(self) -> str:
        return "KEEPALIVE"


KEEPALIVE: Final = _Keepalive()
_END = object()


def with_keepalive(source: Iterator[T], interval: float) -> Iterator[T | _Keepalive]:
    handoff: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=64)
    stopped = threading.Event()

    def offer(kind: object, value: object) -> None:
        while not stopped.is_set():
            try:
                handoff.put((kind, value), timeout=0.25)
                return
            except queue.Full:
                continue

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
            close = getattr(source, "close", None)
            if close is not None:
                close()

    threading.Thread(target=pump, name="upstream-pump", daemon=True).start()
    try:
        while True:
            try:
                kind, value = handoff.get(timeout=interval)
            except queue.Empty:
                yield KEEPALIVE
                continue
            if kind is _END:
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stopped.set()
