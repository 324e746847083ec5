"""Image jobs: created with their request, run by workers, ended once, the request settled once.

- `create_jobs`: one ImageRequest and n ImageJobs in one transaction; the request's usage entry
  is handed off (gateway/accounting/handoff.py) into the request row, and one Celery task per job
  is enqueued when the transaction commits.
- `run_job` (images/tasks.py): claims the job (queued, or running on a worker that died), calls
  the upstream through the route's fallbacks, fits the picture to the asked size and format
  (images/imaging.py) and stores it (images/storage.py).
- `end_job`: the job's one transition to succeeded or failed. Only the first to end it counts (a
  job run twice — its worker thought dead — keeps the first result, and the late copy's file is
  deleted); the request's count of pending jobs drops in the same transaction, and the job that
  brings it to zero settles the request's usage record: once, with the images that succeeded, the
  route that made the last of them and every upstream call its jobs made (each run notes its own).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gateway import job_queue
from gateway.access.auth import KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.accounting.handoff import hand_off, settle_handed
from gateway.catalog.fallbacks import with_fallbacks
from gateway.catalog.routes import RouteTarget, resolve_routes
from gateway.models import Task
from gateway.providers.images import GeneratedImage, ImageGenerationRequest
from gateway.providers.registry import image_provider_for
from images import imaging, notify, storage
from images.models import ImageJob, ImageRequest
from images.request import GenerationRequest

log = logging.getLogger(__name__)

_ENDED = (ImageJob.Status.SUCCEEDED, ImageJob.Status.FAILED)


def create_jobs(
    body: GenerationRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, principal: KeyPrincipal
) -> list[ImageJob]:
    entry.upstream_model, entry.provider = targets[0].upstream_model, targets[0].provider.name
    with transaction.atomic():
        group = ImageRequest.objects.create(
            request_id=entry.request_id,
            api_key_id=principal.key_id,
            owner_id=principal.owner_id,
            public_model=body.model,
            n=body.n,
            pending=body.n,
        )
        jobs = ImageJob.objects.bulk_create(
            ImageJob(
                request=group,
                index=index,
                owner_id=principal.owner_id,
                api_key_id=principal.key_id,
                prompt=body.prompt,
                public_model=body.model,
                upstream_model=targets[0].upstream_model,
                provider=targets[0].provider.name,
                width=body.width,
                height=body.height,
                output_format=body.output_format,
                output_compression=body.output_compression,
                response_format=body.response_format,
            )
            for index in range(body.n)
        )
        group.ticket = hand_off(entry, seconds=settings.GATEWAY_IMAGE_JOB_DEADLINE_SECONDS)
        group.save(update_fields=["ticket"])
        ids = [job.id for job in jobs]
        transaction.on_commit(lambda: _enqueue(ids))
    return jobs


def _enqueue(job_ids: list[str]) -> None:
    """One task per job, once the jobs are committed; jobs that cannot be queued end failed at once,
    which settles the request's record (gateway/job_queue.py)."""
    from images.tasks import generate_image  # the task module imports this one

    def fail(unqueued: list[str]) -> None:
        for job in ImageJob.objects.filter(id__in=unqueued):
            end_job(
                job,
                status=ImageJob.Status.FAILED,
                error=job_queue.UNQUEUED,
                error_code="service_unavailable",
                error_status=503,
                retry_after=job_queue.RETRY_AFTER_SECONDS,
            )

    if not job_queue.queue_or_fail(job_ids, generate_image.delay, fail):
        raise job_queue.unavailable()


def claim(job_id: str) -> ImageJob | None:
    """The job, marked running with one more attempt; None when it has ended already."""
    claimed = ImageJob.objects.filter(id=job_id).exclude(status__in=_ENDED)
    if not claimed.update(status=ImageJob.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()):
        return None
    return ImageJob.objects.get(id=job_id)


def generate(job: ImageJob) -> tuple[bytes, str, RouteTarget]:
    """The finished file's bytes, the prompt the upstream was given, and the route that answered.
    Raises GatewayError (upstream refusals and failures, as the envelope maps them)."""
    targets = resolve_routes(job.public_model, Task.IMAGE, True)
    # The request's usage was handed off with it; this entry only carries the calls' bookkeeping.
    scratch = UsageEntry(request_id=f"job-{job.id}", endpoint="images.generations", principal=None)

    def call(target: RouteTarget) -> tuple[GeneratedImage, str, RouteTarget]:
        provider = image_provider_for(target.provider.config())
        limit = provider.prompt_limit(target.upstream_model)
        prompt = job.prompt[:limit] if limit else job.prompt
        request = ImageGenerationRequest(model=target.upstream_model, prompt=prompt, width=job.width, height=job.height)
        return provider.generate_image(request), prompt, target

    # No retries here: the task retries the job itself, with its own backoff (images/tasks.py).
    try:
        image, prompt, target = with_fallbacks(targets, scratch, call, retries=0)
    finally:
        _note_calls(job, scratch)
    data = imaging.render(
        image.data,
        width=job.width,
        height=job.height,
        output_format=job.output_format,
        compression=job.output_compression,
    )
    return data, prompt, target


def _note_calls(job: ImageJob, scratch: UsageEntry) -> None:
    """This run's upstream calls, added to the job's (every run's count: they were all made), and
    the route it tried last, whether or not the run goes on to end the job."""
    if not scratch.attempts:
        return
    row = ImageJob.objects.filter(id=job.id)
    row.update(upstream_attempts=F("upstream_attempts") + scratch.attempts)
    # A late duplicate run (its worker thought dead) leaves the route of the run that ended the job.
    row.exclude(status__in=_ENDED).update(
        route_id=scratch.route_id, upstream_model=scratch.upstream_model, provider=scratch.provider
    )


def succeed(job: ImageJob, data: bytes, prompt: str, target: RouteTarget) -> None:
    name = storage.save_image(data, extension=imaging.EXTENSIONS[job.output_format])
    ended = end_job(
        job,
        status=ImageJob.Status.SUCCEEDED,
        file_name=name,
        file_bytes=len(data),
        upstream_model=target.upstream_model,
        provider=target.provider.name,
        revised_prompt=prompt if prompt != job.prompt else "",
    )
    if not ended:  # another run of this job ended it first: keep one image, not two
        storage.delete_image(name)


def fail(job: ImageJob, *, status: int, code: str, message: str, retry_after: int | None = None) -> None:
    end_job(
        job,
        status=ImageJob.Status.FAILED,
        error=message,
        error_code=code,
        error_status=status,
        retry_after=retry_after,
    )


def end_job(job: ImageJob, *, status: str, **fields: object) -> bool:
    """The job's one transition to an end; False when it had ended already."""
    with transaction.atomic():
        ended = (
            ImageJob.objects.filter(id=job.id)
            .exclude(status__in=_ENDED)
            .update(status=status, finished_at=timezone.now(), **fields)
        )
        if not ended:
            return False
        group = ImageRequest.objects.select_for_update().get(pk=job.request_id)
        group.pending -= 1
        # Once: a job an operator retried after its request was settled (images/admin.py) ends
        # without a second record.
        settle_now = group.pending == 0 and group.settled_at is None
        if settle_now:
            group.settled_at = timezone.now()
        group.save(update_fields=["pending", "settled_at"])
        if settle_now:
            transaction.on_commit(lambda: settle_request(group))
        transaction.on_commit(lambda: notify.job_ended(group.request_id, job.id))
    return True


def settle_request(group: ImageRequest) -> None:
    """The request's one usage record: the images that succeeded, priced per image; the route of
    the job that succeeded last (or, none having succeeded, was tried last) and every job's
    upstream calls, as a request served in one go records its answering route and attempts."""
    jobs = list(group.jobs.order_by("index"))
    succeeded = [job for job in jobs if job.status == ImageJob.Status.SUCCEEDED]
    failed = [job for job in jobs if job.status == ImageJob.Status.FAILED]
    if succeeded:
        status, code = 200, ""
    else:
        status, code = (failed[0].error_status or 502), failed[0].error_code
    tried = succeeded or [job for job in jobs if job.route_id is not None] or jobs
    answering = max(tried, key=lambda job: (job.finished_at or job.created_at, job.index))
    ticket = dict(group.ticket)
    ticket["entry"] = {
        **ticket.get("entry", {}),
        "upstream_model": answering.upstream_model,
        "provider": answering.provider,
    }
    attempts = sum(job.upstream_attempts for job in jobs)
    try:
        settle_handed(
            ticket,
            status=status,
            error_code=code,
            images=len(succeeded),
            route_id=answering.route_id,
            attempts=attempts,
        )
    except Exception:
        log.exception("usage record of image request %s not written", group.request_id)


def jobs_of(request_id: str) -> list[ImageJob]:
    return list(ImageJob.objects.filter(request__request_id=request_id).order_by("index"))


def job_for(job_id: str, principal: KeyPrincipal) -> ImageJob | None:
    """The job if this key's owner owns it (the static ACCESS_TOKEN owns the key-less ones)."""
    return ImageJob.objects.filter(id=job_id, owner_id=principal.owner_id).first()


def ended(jobs: Iterable[ImageJob]) -> bool:
    return all(job.ended for job in jobs)


def retry(jobs: Iterable[ImageJob]) -> int:
    """Failed jobs queued again (the admin's action); how many. Their request's record was written
    when they failed: an operator's retry is not billed to the key."""
    from images.tasks import generate_image

    count = 0
    for job in jobs:
        with transaction.atomic():
            cleared = {"error": "", "error_code": "", "error_status": None, "retry_after": None, "finished_at": None}
            queued = ImageJob.objects.filter(id=job.id, status=ImageJob.Status.FAILED).update(
                status=ImageJob.Status.QUEUED, **cleared
            )
            if not queued:
                continue
            ImageRequest.objects.filter(pk=job.request_id).update(pending=F("pending") + 1)
            transaction.on_commit(lambda job_id=job.id: generate_image.delay(job_id))
            count += 1
    return count
