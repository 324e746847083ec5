"""The asynchronous side of image generation: `Prefer: respond-async` (a 202 with the jobs), GET
/v1/images/jobs/{id}, and the 504 of a synchronous request whose jobs outlast its wait.

Jobs run on the real Celery worker against the emulator; the request's one usage record is written
by the worker that ends its last job, whether the client waited for it or not.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, usage_records, wait_for_spool_drained
from PIL import Image

from gateway.models import UsageRecord
from images.models import ImageJob

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "images.generations"
FLUX = "@cf/black-forest-labs/flux-1-schnell"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(gateway_url: str, key: str, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/images/generations", headers={**bearer(key), **headers}, json=body, timeout=60
    )


def get_job(gateway_url: str, job_id: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{gateway_url}/v1/images/jobs/{job_id}", headers=headers, timeout=10)


def poll_until_ended(gateway_url: str, key: str, job_id: str, seconds: float = 20) -> dict[str, Any]:
    """The job's body once it has succeeded or failed (GET /v1/images/jobs/{id}, the owner's key)."""
    deadline = time.monotonic() + seconds
    while True:
        response = get_job(gateway_url, job_id, bearer(key))
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {seconds} s"
        time.sleep(0.1)


def rows_ended(count: int, seconds: float = 20) -> list[ImageJob]:
    deadline = time.monotonic() + seconds
    while True:
        jobs = list(ImageJob.objects.order_by("index"))
        if len(jobs) == count and all(job.ended for job in jobs):
            return jobs
        assert time.monotonic() < deadline, [(job.id, job.status) for job in jobs]
        time.sleep(0.05)


def test_respond_async_answers_202_with_the_jobs_which_are_then_polled_to_their_images(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.set_latency(first_byte=1)  # no job can have ended when the 202 is written
    body = {"model": "dall-e-2", "prompt": "two kites", "n": 2, "size": "256x256"}

    response = post(gateway_url, api_key, body, Prefer="respond-async")

    assert response.status_code == 202, response.text
    assert response.elapsed.total_seconds() < 1
    assert response.headers["Preference-Applied"] == "respond-async"
    accepted = response.json()
    assert accepted["object"] == "list" and len(accepted["data"]) == 2
    ids = [job["id"] for job in accepted["data"]]
    assert sorted(ids) == sorted(ImageJob.objects.values_list("id", flat=True))
    assert response.headers["Location"] == f"{gateway_url}/v1/images/jobs/{ids[0]}"
    for index, job in enumerate(accepted["data"]):
        assert job["object"] == "image.job"
        assert job["status"] in ("queued", "running")
        assert (job["index"], job["model"], job["size"], job["output_format"]) == (index, "dall-e-2", "256x256", "png")
        assert job["request_id"] == response.headers["x-request-id"]
        assert (job["result"], job["error"], job["finished_at"]) == (None, None, None)

    ended = [poll_until_ended(gateway_url, api_key, job_id) for job_id in ids]

    urls = []
    for job in ended:
        assert (job["status"], job["attempts"], job["error"]) == ("succeeded", 1, None)
        assert job["finished_at"] >= job["started_at"] >= job["created_at"]
        urls.append(job["result"]["url"])
        image = requests.get(job["result"]["url"], timeout=10)  # no key: the signed link alone
        assert (image.status_code, image.headers["Content-Type"]) == (200, "image/png")
        assert Image.open(io.BytesIO(image.content)).size == (256, 256)
    assert len(set(urls)) == 2
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.images, record.public_model, record.upstream_model) == (200, 2, "dall-e-2", FLUX)
    assert record.request_id == response.headers["x-request-id"]
    assert wait_for_spool_drained()
    assert UsageRecord.objects.filter(endpoint=ENDPOINT).count() == 1


def test_a_job_is_only_its_owners(gateway_url, api_key, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    body = {"prompt": "a private picture", "size": "256x256", "response_format": "b64_json", "output_format": "webp"}
    accepted = post(gateway_url, api_key, body, Prefer="handling=lenient, respond-async; x=1")
    assert accepted.status_code == 202, accepted.text
    (job_id,) = [job["id"] for job in accepted.json()["data"]]
    ended = poll_until_ended(gateway_url, api_key, job_id)
    assert (ended["status"], ended["model"], ended["output_format"]) == ("succeeded", "dall-e-2", "webp")
    picture = Image.open(io.BytesIO(base64.b64decode(ended["result"]["b64_json"])))
    assert (picture.format, picture.size) == ("WEBP", (256, 256))
    stranger = make_key("stranger")

    error = error_of(get_job(gateway_url, job_id, bearer(stranger)), 404)
    assert (error["code"], error["type"]) == ("image_job_not_found", "invalid_request_error")
    assert job_id in error["message"]
    unknown = error_of(get_job(gateway_url, "imgjob_" + "0" * 24, bearer(api_key)), 404)
    assert unknown["code"] == "image_job_not_found"
    assert error_of(get_job(gateway_url, job_id, {}), 401)["code"] == "missing_api_key"
    assert error_of(get_job(gateway_url, job_id, bearer("sk-gw-not-a-key")), 401)["code"] == "invalid_api_key"
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.images) == (200, 1)


def test_a_synchronous_request_whose_jobs_outlast_its_wait_is_a_504_naming_them(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker, settings
) -> None:
    settings.GATEWAY_IMAGE_WAIT_SECONDS = 1
    routes.set_latency(first_byte=3)

    response = post(gateway_url, api_key, {"model": "dall-e-2", "prompt": "slow paint", "n": 2, "size": "256x256"})

    error = error_of(response, 504)
    assert (error["code"], error["type"]) == ("image_jobs_pending", "server_error")
    assert response.elapsed.total_seconds() < 3
    ids = list(ImageJob.objects.order_by("index").values_list("id", flat=True))
    assert len(ids) == 2
    for job_id in ids:
        assert job_id in error["message"]
    assert "GET /v1/images/jobs/" in error["message"]

    jobs = rows_ended(2)  # the workers carry on without the client
    assert [(job.status, job.attempts) for job in jobs] == [("succeeded", 1), ("succeeded", 1)]
    for job_id in ids:
        assert poll_until_ended(gateway_url, api_key, job_id)["result"]["url"]
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.error_code, record.images) == (200, "", 2)
    assert record.request_id == response.headers["x-request-id"]
    assert record.latency_ms >= 3000  # the request's whole time, to its last job's end
    assert wait_for_spool_drained()
    assert UsageRecord.objects.filter(endpoint=ENDPOINT).count() == 1
