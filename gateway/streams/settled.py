"""The end of every stream, however it ends: an error event if the upstream failed mid-way, and
exactly one usage record — also when the client left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeAlias

from gateway.accounting.entry import UsageEntry
from gateway.accounting.ledger import settle
from gateway.errors import GatewayError, from_provider_error
from gateway.providers.base import ProviderError
from gateway.streams import sse

log = logging.getLogger(__name__)

# How a stream tells its client it failed mid-way, once the headers are gone.
ErrorFrame: TypeAlias = Callable[[GatewayError], bytes]


def error_event(error: GatewayError) -> bytes:
    """Chat's and completions' way: an `error` event makes the SDK raise APIError mid-stream."""
    return sse.event(error.body())


def settled_stream(
    frames: Iterator[bytes],
    entry: UsageEntry,
    started: float,
    account: Callable[[], None],
    error_frame: ErrorFrame = error_event,
) -> Iterator[bytes]:
    """Pass `frames` on; `account()` fills the entry's tokens from what the frames saw, then the
    record is written. A client that leaves closes this generator, which closes `frames` too."""
    finished = False
    try:
        yield from frames
        finished = True
    except ProviderError as exc:
        # Headers are gone already: the failure is the stream's last event.
        error = from_provider_error(exc)
        entry.status, entry.error_code = error.status, error.code or ""
        yield error_frame(error)
        finished = True
    except Exception:
        # A bug mid-stream: the client gets an error event, the ledger a server error (never a 200
        # that merely looks like the client leaving).
        log.exception("stream of %s failed", entry.request_id)
        error = GatewayError(500, "The gateway failed while streaming this answer.", code="server_error")
        entry.status, entry.error_code = error.status, error.code or ""
        yield error_frame(error)
        finished = True
    finally:
        account()
        entry.client_disconnected = not finished
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        settle(entry)


def settled_body(chunks: Iterator[bytes], entry: UsageEntry, started: float) -> Iterator[bytes]:
    """A streamed binary body (speech audio): the bytes as they come, then one usage record.

    A body has no error event to end with: when the upstream or the encoder fails mid-way, the
    record says so and the failure propagates, so the server ends the response without its last
    chunk and the client sees a broken transfer rather than a short file that looks complete.
    """
    finished = False
    try:
        for chunk in chunks:
            if entry.ttft_ms is None:
                entry.ttft_ms = int((time.monotonic() - started) * 1000)
            yield chunk
        finished = True
    except ProviderError as exc:
        error = from_provider_error(exc)
        entry.status, entry.error_code = error.status, error.code or ""
        finished = True
        raise
    except Exception:
        log.exception("body of %s failed", entry.request_id)
        entry.status, entry.error_code = 500, "server_error"
        finished = True
        raise
    finally:
        entry.client_disconnected = not finished
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        settle(entry)
