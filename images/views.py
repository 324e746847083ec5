"""The images endpoints: POST /v1/images/generations, GET /v1/images/jobs/<id>, and GET (and HEAD)
/v1/images/get/<name>, a generated image's bytes.

Two kinds of caller may read an image:

- anyone holding a signed link (images/signing.py), until it expires and with no key at all, so the
  `url` of a generation answer works in an `<img>` tag;
- a key whose owner owns the image (the ImageJob that produced it has the key's owner; the static
  ACCESS_TOKEN, which has no owner, owns the images made with it, whose owner is null).

Every other request — no key and no valid link, an expired or tampered link, another owner's image,
a name never given out, an image whose file is gone — gets the same 404 `image_not_found`, so a
guess learns nothing. A key that is sent is authenticated as everywhere (a bad one is a 401), and a
valid link serves even when a key that does not own the image comes with it: anyone holding the
link can already read the image, so adding a key takes nothing away.

The answer carries a strong ETag (an image's name is never reused and its file never rewritten, so
name and size identify the bytes), and `If-None-Match` is answered 304 after the access check,
without reading the file. Caching (RFC 9111, https://www.rfc-editor.org/rfc/rfc9111): a signed
answer may be reused by the client until its link expires (`private, max-age=<seconds left>`); a
keyed one must be revalidated on each use (`private, no-cache`), so a revoked key or a deleted image
takes effect at the next use, which costs a 304 when nothing changed. Nothing here settles a usage
record: the ledger middleware writes the request's one record (endpoint `images.get`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.access.auth import ApiKeyAuthentication, KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.db import release_connections
from gateway.errors import GatewayError
from gateway.http.envelope import UNAVAILABLE_RETRY_AFTER_SECONDS
from gateway.http.metered_view import MeteredView
from gateway.models import Task
from images import notify, openapi, render, service, signing, storage
from images.models import ImageJob
from images.request import GenerationRequest, parse_generation

log = logging.getLogger(__name__)

KEYED_CACHE_CONTROL = "private, no-cache"
_LOOK_EVERY_SECONDS = 5.0  # a waiting generation reads its job rows this often when no word comes


class KeyWhenSent(ApiKeyAuthentication):
    """A request with no Authorization header is let through unauthenticated (request.user None):
    an `<img>` tag sends no key, and the view decides on the link. A header that is sent is checked
    exactly as on every other endpoint, so a wrong, revoked or expired key is still a 401."""

    def authenticate(self, request: Request) -> tuple[KeyPrincipal, KeyPrincipal] | None:
        if "HTTP_AUTHORIZATION" not in request.META:
            return None
        return super().authenticate(request)


def _not_found() -> GatewayError:
    return GatewayError(
        404,
        "No such image, or the link to it has expired.",
        code="image_not_found",
        headers={"Cache-Control": "no-store"},
    )


def _storage_down() -> GatewayError:
    return GatewayError(
        503,
        "The image storage cannot be reached right now; retry in a few seconds.",
        type="server_error",
        code="service_unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def _owns(principal: KeyPrincipal, name: str) -> bool:
    jobs = ImageJob.objects.filter(file_name=name, status=ImageJob.Status.SUCCEEDED)
    if principal.owner_id is None:  # the static ACCESS_TOKEN: the images made with it
        return jobs.filter(owner__isnull=True).exists()
    return jobs.filter(owner_id=principal.owner_id).exists()


def _cache_control(request: Request, name: str) -> str | None:
    """The Cache-Control of an answer this request may have, or None when it may not see the image."""
    expires = request.query_params.get("expires")
    if signing.check(name, expires, request.query_params.get("signature")):
        seconds_left = math.floor(int(expires or 0) - time.time())  # rounded down: never past the link
        return f"private, max-age={max(seconds_left, 0)}"
    principal = request.user
    if isinstance(principal, KeyPrincipal) and _owns(principal, name):
        return KEYED_CACHE_CONTROL
    return None


def etag_of(name: str, size: int) -> str:
    return '"' + hashlib.sha256(f"{name}:{size}".encode()).hexdigest()[:32] + '"'


def _none_match(header: str, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not stop a match."""
    tags = parse_etags(header)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _headers(response: HttpResponse, name: str, etag: str, size: int, cache_control: str) -> HttpResponse:
    # Content-Length is set here for the 304 and HEAD answers too: it is the 200's length, which
    # RFC 9110 8.6 allows there, while CommonMiddleware would otherwise write the empty body's 0.
    response["Content-Length"] = str(size)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="{name}"'  # the name is [a-z0-9_.] only
    return response


@extend_schema_view(get=openapi.RETRIEVE_FILE)
class ImageFileView(APIView):
    authentication_classes = [KeyWhenSent]
    permission_classes = [AllowAny]  # decided in the view: a signed link needs no key
    http_method_names = ["get", "head"]

    def get(self, request: Request, name: str) -> HttpResponse:
        return self._serve(request, name, with_body=True)

    def head(self, request: Request, name: str) -> HttpResponse:
        return self._serve(request, name, with_body=False)

    def _serve(self, request: Request, name: str, *, with_body: bool) -> HttpResponse:
        # An impossible name (a traversal, a slash, anything we never give out) goes no further.
        if not storage.valid_name(name):
            raise _not_found()
        cache_control = _cache_control(request, name)
        if cache_control is None:
            raise _not_found()
        try:
            condition = request.META.get("HTTP_IF_NONE_MATCH")
            if condition:
                size = storage.image_size(name)
                etag = etag_of(name, size)
                if _none_match(condition, etag):
                    return _headers(HttpResponseNotModified(), name, etag, size, cache_control)
            data = storage.read_image(name)
        except storage.ImageMissing:
            raise _not_found() from None
        except storage.StorageUnavailable:
            raise _storage_down() from None
        content_type = storage.sniff(data)
        if content_type != storage.media_type(name):
            # save_image never stores such a file: it was changed behind the gateway's back. Answer
            # what the bytes are, and never a type a browser would run (HTML, SVG).
            log.warning("image %s holds %s, not what its name says", name, content_type or "unknown bytes")
        response = HttpResponse(data if with_body else b"", content_type=content_type or "application/octet-stream")
        return _headers(response, name, etag_of(name, len(data)), len(data), cache_control)


@contextmanager
def _stored_images() -> Iterator[None]:
    """b64_json answers read the stored files: a file gone or a storage away is an envelope."""
    try:
        yield
    except storage.ImageMissing:
        raise _not_found() from None
    except storage.StorageUnavailable:
        raise _storage_down() from None


def _link_maker(request: Request) -> render.LinkMaker:
    ttl = settings.GATEWAY_IMAGE_URL_TTL_SECONDS
    return lambda name: request.build_absolute_uri(signing.signed_path(name, ttl))


def _prefers_async(request: Request) -> bool:
    """RFC 7240's `Prefer: respond-async`, among any other preferences the header carries."""
    prefer = request.headers.get("Prefer", "")
    return any(part.split(";")[0].strip().lower() == "respond-async" for part in prefer.split(","))


@extend_schema_view(post=openapi.CREATE)
class ImageGenerationsView(MeteredView):
    endpoint = "images.generations"
    task = Task.IMAGE

    def parse(self, data: Any) -> GenerationRequest:
        return parse_generation(data)

    def answer(
        self,
        request: Request,
        body: GenerationRequest,
        targets: tuple[RouteTarget, ...],
        entry: UsageEntry,
        started: float,
    ) -> HttpResponseBase:
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        jobs = service.create_jobs(body, targets, entry, request.user)
        link = _link_maker(request)
        headers = dict(entry.admission.headers)
        if _prefers_async(request):
            headers["Preference-Applied"] = "respond-async"
            headers["Location"] = request.build_absolute_uri(f"/v1/images/jobs/{jobs[0].id}")
            return Response(render.accepted_body(jobs, link), status=202, headers=headers)
        jobs = self._wait(entry.request_id, jobs, started)
        succeeded = [job for job in jobs if job.status == ImageJob.Status.SUCCEEDED]
        if not succeeded:
            failed = jobs[0]
            # The job's error as the envelope had it, Retry-After included (a 429 or 503 says when).
            headers = {} if failed.retry_after is None else {"Retry-After": str(failed.retry_after)}
            status, code = failed.error_status or 502, failed.error_code or None
            raise GatewayError(status, failed.error, code=code, headers=headers)
        created = int(max(job.finished_at for job in succeeded).timestamp())
        with _stored_images():
            return Response(render.generation_body(created, succeeded, link), headers=headers)

    def _wait(self, request_id: str, jobs: list[ImageJob], started: float) -> list[ImageJob]:
        """The request's jobs once all have ended, or a 504 naming them when the wait is over.
        No database connection is held while waiting: the workers' word comes through Redis."""
        release_connections()
        deadline = started + settings.GATEWAY_IMAGE_WAIT_SECONDS
        waiting = {job.id for job in jobs}
        looked = time.monotonic()
        while waiting and (left := deadline - time.monotonic()) > 0:
            ended = notify.wait(request_id, left)
            if ended is not None:
                waiting.discard(ended)
            elif time.monotonic() - looked >= _LOOK_EVERY_SECONDS:  # a word lost (Redis away): ask the rows
                looked = time.monotonic()
                if service.ended(service.jobs_of(request_id)):
                    break
                release_connections()
        jobs = service.jobs_of(request_id)
        if service.ended(jobs):
            return jobs
        pending = ", ".join(job.id for job in jobs if not job.ended)
        raise GatewayError(
            504,
            f"The images were not ready within {settings.GATEWAY_IMAGE_WAIT_SECONDS:g} seconds; they are still "
            f"being made. Poll GET /v1/images/jobs/{{id}} for each of: {pending}.",
            type="server_error",
            code="image_jobs_pending",
        )


@extend_schema_view(get=openapi.RETRIEVE_JOB)
class ImageJobView(APIView):
    """GET /v1/images/jobs/{id}: one job of the calling key's owner, with its image once made."""

    def get(self, request: Request, job_id: str) -> Response:
        job = service.job_for(job_id, request.user)
        if job is None:
            raise GatewayError(404, f"No image job `{job_id}` for this key.", code="image_job_not_found")
        with _stored_images():
            return Response(render.job_body(job, _link_maker(request)))
