"""Image generation as durable jobs: one ImageRequest per POST, one ImageJob per image asked for.

Jobs are run by Celery workers (images/tasks.py); their rows are the truth a worker restarts from,
so a job whose worker died is run again and a job that succeeded is never run to success twice.
The request's usage record is written once, when its last job ends (images/service.py).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from gateway.models import ApiKey


def _job_id() -> str:
    return f"imgjob_{secrets.token_hex(12)}"


class ImageRequest(models.Model):
    """What one POST /v1/images/generations asked for, and the usage record it still owes."""

    request_id = models.CharField(max_length=64, unique=True)  # the request's x-request-id
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    public_model = models.CharField(max_length=200)
    n = models.PositiveSmallIntegerField()
    pending = models.PositiveSmallIntegerField(help_text="Jobs not yet succeeded or failed.")
    # The usage entry and what admission reserved, handed from the web request to whichever worker
    # ends the last job (gateway/accounting/handoff.py hand_off / settle_handed).
    ticket = models.JSONField(default=dict, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} ({self.n} × {self.public_model})"


class ImageJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, default=_job_id, editable=False)
    request = models.ForeignKey(ImageRequest, on_delete=models.CASCADE, related_name="jobs")
    index = models.PositiveSmallIntegerField()  # its place in the answer's `data`
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prompt = models.TextField()
    public_model = models.CharField(max_length=200)
    upstream_model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    output_format = models.CharField(max_length=8)  # png | jpeg | webp
    output_compression = models.PositiveSmallIntegerField(null=True, blank=True)
    response_format = models.CharField(max_length=8, default="url")  # url | b64_json
    revised_prompt = models.TextField(blank=True)  # the prompt the upstream was given, when not the client's
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)  # the HTTP status its error maps to
    retry_after = models.PositiveIntegerField(null=True, blank=True)  # seconds, with a 429 or 503 error
    attempts = models.PositiveSmallIntegerField(default=0)  # runs (deliveries of its task)
    # For the request's usage record (images/service.py settle_request): what `with_fallbacks`
    # noted on each run, as UsageEntry.route_id and .attempts are for a request served in one go.
    route_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="The model route that made the image, or was tried last (its id)."
    )
    upstream_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Upstream calls over all its runs: fallbacks and the task's retries included."
    )
    file_name = models.CharField(max_length=200, blank=True, db_index=True)
    file_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "index"]
        constraints = [models.UniqueConstraint(fields=["request", "index"], name="one_job_per_index")]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def ended(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
