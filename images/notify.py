"""Word from the workers to a waiting request that one of its jobs ended: a Redis list per request.

A job's end pushes its id; the request pops (BLPOP) until all its jobs are in or its wait is over.
A list outlives a late reader (it expires after LIST_SECONDS), so a job that ends before the
request starts to wait is not missed. Losing a word (Redis away) costs a poll of the database,
never a wrong answer: the job rows are the truth (images/views.py reads them at the end).
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

from gateway.accounting.counters import redis

log = logging.getLogger(__name__)

LIST_SECONDS = 3600
POP_SECONDS = 1.0  # one BLPOP's wait: below the Redis client's socket timeout


def _key(request_id: str) -> str:
    return cache.make_and_validate_key(f"images:ended:{request_id}")


def job_ended(request_id: str, job_id: str) -> None:
    try:
        client = redis()
        pipe = client.pipeline(transaction=False)
        pipe.rpush(_key(request_id), job_id)
        pipe.expire(_key(request_id), LIST_SECONDS)
        pipe.execute()
    except Exception:
        log.warning("end of image job %s not announced", job_id, exc_info=True)


def wait(request_id: str, seconds: float) -> str | None:
    """A job id that ended, or None after `seconds` (at most POP_SECONDS) without one."""
    try:
        popped = redis().blpop([_key(request_id)], timeout=max(0.01, min(seconds, POP_SECONDS)))
    except Exception:
        log.warning("image job ends of %s not readable", request_id, exc_info=True)
        time.sleep(min(seconds, POP_SECONDS))  # Redis away: the caller reads the rows now and then
        return None
    return None if popped is None else popped[1].decode()
