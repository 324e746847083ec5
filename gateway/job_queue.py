"""Work handed to Celery after a commit, and what happens when the broker cannot take it.

Rows made for a task (image jobs, vector store files, documents being embedded) are committed
first and their tasks queued after the commit. A broker out of reach (celery has retried the
publish already) would leave those rows waiting for a task that never comes: `queue_or_fail`
ends them through `fail`, and the caller answers `unavailable()` where the request itself is the
work (an image, a document), or shows the rows failed where OpenAI's own objects carry that
(a vector store's files: README "Failure policy").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import kombu.exceptions

from gateway.errors import GatewayError
from gateway.http.envelope import UNAVAILABLE_RETRY_AFTER_SECONDS, service_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = UNAVAILABLE_RETRY_AFTER_SECONDS  # what a failed job tells its poller

UNQUEUED = "The gateway cannot reach its job queue right now; retry in a few seconds."

Item = TypeVar("Item")


def queue_or_fail(items: Sequence[Item], send: Callable[[Item], object], fail: Callable[[list[Item]], None]) -> bool:
    """`send` each item in turn; once one cannot be sent, `fail` it and those after it. True when
    every item was queued."""
    for index, item in enumerate(items):
        try:
            send(item)
        except kombu.exceptions.OperationalError as exc:
            unsent = list(items[index:])
            log.warning("%d task(s) not queued: the broker is out of reach (%s)", len(unsent), exc)
            fail(unsent)
            return False
    return True


def unavailable() -> GatewayError:
    """The 503 for a request whose work could not be queued, as for any backing service away."""
    return service_unavailable(UNQUEUED)
