"""POST /v1/images/generations refused: by validation before any job exists, and by the upstream
once a job runs (the job fails, or the task retries it).

Each refusal is checked over HTTP (the envelope and the parameter it names), in the database (no
ImageJob rows for a request that was never accepted; the failed job's row otherwise), in the
ledger (one usage record per request) and at the emulator (what, if anything, it was sent).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, usage_records, wait_for_spool_drained

from gateway.models import Price, UsageRecord
from images.models import ImageJob, ImageRequest

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "images.generations"
FLUX = "@cf/black-forest-labs/flux-1-schnell"


def generate(gateway_url: str, key: str, body: Any) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/images/generations", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=60
    )


TOO_LONG = "string_above_max_length"

# (body, status, param, code): OpenAI's rules per model name (images/request.py).
REFUSALS = {
    "missing prompt": ({"model": "dall-e-2"}, 400, "prompt", None),
    "empty prompt": ({"model": "dall-e-2", "prompt": ""}, 400, "prompt", None),
    "blank prompt": ({"model": "dall-e-3", "prompt": "   \n"}, 400, "prompt", None),
    "prompt not a string": ({"model": "dall-e-2", "prompt": ["a cat"]}, 400, "prompt", None),
    "dall-e-2 prompt over 1000": ({"model": "dall-e-2", "prompt": "x" * 1001}, 400, "prompt", TOO_LONG),
    "dall-e-3 prompt over 4000": ({"model": "dall-e-3", "prompt": "x" * 4001}, 400, "prompt", TOO_LONG),
    "n=0": ({"prompt": "a cat", "n": 0}, 400, "n", None),
    "n=11": ({"model": "dall-e-2", "prompt": "a cat", "n": 11}, 400, "n", None),
    "n=2 for dall-e-3": ({"model": "dall-e-3", "prompt": "a cat", "n": 2}, 400, "n", None),
    "n as a string": ({"model": "dall-e-2", "prompt": "a cat", "n": "3"}, 400, "n", None),
    "n as a boolean": ({"model": "dall-e-2", "prompt": "a cat", "n": True}, 400, "n", None),
    "size 999x999": ({"model": "dall-e-2", "prompt": "a cat", "size": "999x999"}, 400, "size", None),
    "dall-e-3 size for dall-e-2": ({"model": "dall-e-2", "prompt": "a cat", "size": "1792x1024"}, 400, "size", None),
    "dall-e-2 size for dall-e-3": ({"model": "dall-e-3", "prompt": "a cat", "size": "256x256"}, 400, "size", None),
    "response_format jpeg": ({"prompt": "a cat", "response_format": "jpeg"}, 400, "response_format", None),
    "output_format gif": ({"prompt": "a cat", "output_format": "gif"}, 400, "output_format", None),
    "output_compression 101": ({"prompt": "a cat", "output_compression": 101}, 400, "output_compression", None),
    "output_compression -1": ({"prompt": "a cat", "output_compression": -1}, 400, "output_compression", None),
    "quality ultra": ({"model": "dall-e-3", "prompt": "a cat", "quality": "ultra"}, 400, "quality", None),
    "style fancy": ({"model": "dall-e-3", "prompt": "a cat", "style": "fancy"}, 400, "style", None),
    "model empty": ({"model": "", "prompt": "a cat"}, 400, "model", None),
    "model not a string": ({"model": 3, "prompt": "a cat"}, 400, "model", None),
    "a chat model": ({"model": "gpt-4", "prompt": "a cat"}, 400, "model", "model_not_supported"),
    "an unknown model": ({"model": "dall-e-9", "prompt": "a cat"}, 404, "model", "model_not_found"),
}


@pytest.mark.parametrize(("body", "status", "param", "code"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_refused_request_names_the_parameter_and_makes_no_job_and_no_call(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker, body, status, param, code
) -> None:
    error = error_of(generate(gateway_url, api_key, body), status)

    assert (error["param"], error["code"]) == (param, code), error
    assert error["type"] == "invalid_request_error"
    (record,) = usage_records(1, endpoint=ENDPOINT)  # the request is over: its record is in
    assert (record.status, record.error_code, record.images) == (status, code or "", 0)
    assert record.api_key.name == "test"
    assert (ImageJob.objects.count(), ImageRequest.objects.count()) == (0, 0)
    assert routes.requests == []


def test_a_body_that_is_not_an_object_is_a_400_with_one_record(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    for body in (["a cat"], "a cat"):
        error = error_of(generate(gateway_url, api_key, body), 400)
        assert "JSON object" in error["message"]
    broken = requests.post(
        f"{gateway_url}/v1/images/generations",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        data=b'{"prompt": ',
        timeout=30,
    )
    error_of(broken, 400)
    assert [r.status for r in usage_records(3, endpoint=ENDPOINT)] == [400, 400, 400]
    assert (ImageJob.objects.count(), routes.requests) == (0, [])


# --- The upstream refuses or fails ----------------------------------------------------------------


def test_an_upstream_bad_input_fails_the_job_once_and_answers_its_400(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: nope", times=1)

    response = generate(gateway_url, api_key, {"model": "dall-e-2", "prompt": "a cat", "size": "256x256"})

    error = error_of(response, 400)
    assert (error["code"], error["type"]) == ("upstream_bad_request", "invalid_request_error")
    assert "nope" in error["message"]
    (job,) = ImageJob.objects.all()
    assert (job.status, job.attempts, job.error_status, job.error_code) == ("failed", 1, 400, "upstream_bad_request")
    assert job.file_name == "" and job.finished_at is not None
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.error_code, record.images) == (400, "upstream_bad_request", 0)
    assert record.request_id == response.headers["x-request-id"]
    assert record.upstream_model == FLUX
    assert len(routes.requests) == 1  # a refusal of the input is not retried


def test_an_upstream_rate_limit_is_retried_by_the_task_and_the_request_succeeds(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=429, code=3040, times=1)

    # The task retries after 2 s (images/tasks.py); the request waits for it.
    response = generate(gateway_url, api_key, {"model": "dall-e-2", "prompt": "a cat", "size": "256x256"})

    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1
    (job,) = ImageJob.objects.all()
    assert (job.status, job.attempts, job.error_code) == ("succeeded", 2, "")
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.error_code, record.images) == (200, "", 1)
    assert [call.model for call in routes.requests] == [FLUX, FLUX]
    assert wait_for_spool_drained()
    assert UsageRecord.objects.filter(endpoint=ENDPOINT).count() == 1


def test_some_jobs_failing_still_answers_the_images_made_and_bills_only_those(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: nope", times=1)

    response = generate(gateway_url, api_key, {"model": "dall-e-2", "prompt": "a pair", "n": 2, "size": "256x256"})

    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    jobs = list(ImageJob.objects.order_by("index"))
    assert sorted(job.status for job in jobs) == ["failed", "succeeded"]
    (made,) = [job for job in jobs if job.status == "succeeded"]
    assert item["url"].split("?")[0].endswith(f"/v1/images/get/{made.file_name}")
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.error_code, record.images) == (200, "", 1)
    assert len(routes.requests) == 2


def test_a_request_whose_jobs_all_failed_spends_nothing_from_the_budget(  # type: ignore[no-untyped-def]
    gateway_url, routes, celery_worker
) -> None:
    Price.objects.update_or_create(upstream_model=FLUX, defaults={"usd_per_image": Decimal("0.01")})
    key = make_key("images-budget", quota_usd=Decimal("0.015"))  # one image at a time, and one in all
    body = {"model": "dall-e-2", "prompt": "a cat", "size": "256x256"}
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: nope", times=1)

    assert error_of(generate(gateway_url, key, body), 400)["code"] == "upstream_bad_request"
    assert generate(gateway_url, key, body).status_code == 200  # the failed request's reservation was released
    assert error_of(generate(gateway_url, key, body), 429)["code"] == "insufficient_quota"  # the image was charged
    records = usage_records(3, endpoint=ENDPOINT)
    assert [(r.status, r.images, r.cost_usd) for r in records] == [
        (400, 0, Decimal(0)),
        (200, 1, Decimal("0.01")),
        (429, 0, Decimal(0)),
    ]
    assert len(routes.requests) == 2


def test_an_upstream_rate_limit_that_outlasts_the_retries_answers_429_with_retry_after(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=429, code=3040, times=5)  # the first try and all 4 retries (2+4+8+16 s)

    response = generate(gateway_url, api_key, {"model": "dall-e-2", "prompt": "a cat", "size": "256x256"})

    error = error_of(response, 429)
    assert error["code"] == "upstream_rate_limited"
    (job,) = ImageJob.objects.all()
    assert (job.status, job.attempts, job.error_status) == ("failed", 5, 429)
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.error_code, record.images) == (429, "upstream_rate_limited", 0)
    assert len(routes.requests) == 5
    assert response.headers["Retry-After"] == "2"  # Workers AI's 3040: capacity, worth a retry within seconds
