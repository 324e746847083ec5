"""Image jobs in the admin: status, timings, a thumbnail, the error; failed jobs can be retried."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from images import service, signing
from images.models import ImageJob

_THUMBNAIL_SECONDS = 600  # the admin page's links outlive its viewing, not much more


@admin.register(ImageJob)
class ImageJobAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "status", "public_model", "size", "attempts", "created_at", "seconds")
    list_filter = ("status", "public_model", "output_format")
    search_fields = ("id", "request__request_id", "prompt", "file_name")
    readonly_fields = [field.name for field in ImageJob._meta.fields] + ["thumbnail", "seconds"]
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from requests

    @admin.display(description="image")
    def thumbnail(self, job: ImageJob) -> str:
        if not job.file_name:
            return "—"
        link = signing.signed_path(job.file_name, _THUMBNAIL_SECONDS)
        return format_html('<a href="{}"><img src="{}" alt="" style="max-height:48px;max-width:96px"></a>', link, link)

    @admin.display(description="seconds")
    def seconds(self, job: ImageJob) -> str:
        if job.started_at is None or job.finished_at is None:
            return "—"
        return f"{(job.finished_at - job.started_at).total_seconds():.1f}"

    @admin.action(description="Retry the selected failed jobs")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ImageJob]) -> None:
        count = service.retry(queryset.filter(status=ImageJob.Status.FAILED))
        self.message_user(request, f"{count} job(s) queued again.", messages.SUCCESS)
