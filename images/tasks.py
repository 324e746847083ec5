"""Celery: one task per image (README "Images").

Thin, as the rest of the job is in images/service.py: claim the job, generate, store, end it. The
task is acknowledged only when done (CELERY_TASK_ACKS_LATE), so a worker killed mid-way leaves the
message to another worker (after the broker's visibility timeout), which claims the still-running
job again; a job that has ended is never run again. Upstream trouble worth another try is retried
with exponential backoff; anything else ends the job failed, with the envelope's status and code.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from gateway.errors import GatewayError
from images import imaging, service, storage

log = logging.getLogger(__name__)

_TRANSIENT = {429, 502, 503, 504}
MAX_RETRIES = 4  # 5 attempts over ~30 s of backoff (2, 4, 8, 16 s)
STORAGE_RETRY_AFTER = 5


def _seconds(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def generate_image(self: Any, job_id: str) -> None:
    job = service.claim(job_id)
    if job is None:
        return  # ended already (a duplicate delivery, or a retry after it succeeded)
    try:
        data, prompt, target = service.generate(job)
        service.succeed(job, data, prompt, target)
    except (GatewayError, storage.StorageUnavailable) as error:
        status, code, message, retry_after = (
            (error.status, error.code or "", error.message, _seconds(error.headers.get("Retry-After")))
            if isinstance(error, GatewayError)
            else (503, "service_unavailable", "The image storage could not be reached.", STORAGE_RETRY_AFTER)
        )
        if status in _TRANSIENT and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=2 ** (self.request.retries + 1), exc=error) from error
        service.fail(job, status=status, code=code, message=message, retry_after=retry_after)
    except imaging.ImageError as error:
        service.fail(job, status=502, code="upstream_error", message=f"Upstream error: {error}.")
    except Exception:
        log.exception("image job %s failed", job_id)
        service.fail(job, status=500, code="server_error", message="The gateway failed while making this image.")
        raise
