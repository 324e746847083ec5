"""A stream of ChatDeltas that owns its upstream response, and a whole answer told as deltas.

Every adapter's chat_stream returns a DeltaStream: its own translated events with the response
they are read from, or (from an upstream that answered whole) deltas_of the parsed answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import requests

from gateway.providers import http
from gateway.providers.base import ChatDelta, ChatResult


class DeltaStream(Iterator[ChatDelta]):
    """The deltas of one upstream stream; `close()` releases the pooled connection.

    When a client disconnects, Django closes the streaming content, which lands here and closes
    the upstream response, even if iteration never started (a generator's finally would not run).
    `close()` may come from another thread than the one reading (gateway/streams/keepalive.py
    reads on a pump thread and closes from the consumer): a read blocked there returns at once.
    A transport failure while reading becomes a ProviderError naming `upstream` ("Workers AI").
    """

    def __init__(self, deltas: Iterator[ChatDelta], response: requests.Response | None, *, upstream: str) -> None:
        self._deltas = deltas
        self._response = response
        self._upstream = upstream
        self._lock = threading.Lock()
        self._finished = False

    def __next__(self) -> ChatDelta:
        try:
            return next(self._deltas)
        except StopIteration:
            self._finished = True
            self.close()
            raise
        except requests.RequestException as exc:
            self.close()
            raise http.transport_error(exc, self._upstream) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            response, self._response = self._response, None
        if response is not None:
            if self._finished:
                http.release(response)
            else:  # the upstream may still be sending, or a reader blocked on it
                http.abort(response)
        close = getattr(self._deltas, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:
                pass  # being read on another thread: its read just failed, and it ends there


_EMPTY = ChatDelta()


def deltas_of(result: ChatResult) -> list[ChatDelta]:
    """A whole answer as a stream would have told it: reasoning, content and calls, the end."""
    deltas = [
        ChatDelta(reasoning=result.reasoning),
        ChatDelta(content=result.content, tool_calls=result.tool_calls),
        ChatDelta(usage=result.usage, finish_reason=result.finish_reason),
    ]
    return [d for d in deltas if d != _EMPTY]
