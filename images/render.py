"""OpenAI's image response (https://platform.openai.com/docs/api-reference/images/object), and the
gateway's own job object for the asynchronous extension (README "Images").

Every `url` is a signed, expiring link to GET /v1/images/get/{name} (images/signing.py): it opens
without a key, in an `<img>` tag, until it expires. `b64_json` carries the stored file itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from images import storage
from images.models import ImageJob

# The name of a stored image → an absolute, signed URL for it (the view knows the host).
LinkMaker = Callable[[str], str]


def _timestamp(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def image_item(job: ImageJob, response_format: str, link: LinkMaker) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if response_format == "b64_json":
        item["b64_json"] = base64.b64encode(storage.read_image(job.file_name)).decode("ascii")
    else:
        item["url"] = link(job.file_name)
    if job.revised_prompt or job.public_model == "dall-e-3":  # dall-e-3 always reports the prompt it drew
        item["revised_prompt"] = job.revised_prompt or job.prompt
    return item


def generation_body(created: int, jobs: Sequence[ImageJob], link: LinkMaker) -> dict[str, Any]:
    first = jobs[0]
    return {
        "created": created,
        "data": [image_item(job, job.response_format, link) for job in jobs],
        "size": first.size,
        "output_format": first.output_format,
    }


def job_body(job: ImageJob, link: LinkMaker) -> dict[str, Any]:
    """The async extension's view of one job (GET /v1/images/jobs/{id}, and the 202's `data`)."""
    ended_ok = job.status == ImageJob.Status.SUCCEEDED
    return {
        "id": job.id,
        "object": "image.job",
        "status": job.status,
        "model": job.public_model,
        "size": job.size,
        "output_format": job.output_format,
        "index": job.index,
        "request_id": job.request.request_id,
        "attempts": job.attempts,
        "created_at": _timestamp(job.created_at),
        "started_at": _timestamp(job.started_at),
        "finished_at": _timestamp(job.finished_at),
        "result": image_item(job, job.response_format, link) if ended_ok else None,
        "error": None
        if job.status != ImageJob.Status.FAILED
        else {"message": job.error, "code": job.error_code or None, "status": job.error_status},
    }


def accepted_body(jobs: Sequence[ImageJob], link: LinkMaker) -> dict[str, Any]:
    return {"object": "list", "data": [job_body(job, link) for job in jobs]}
