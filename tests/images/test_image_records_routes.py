"""An image request's usage record names the route that made its images and counts every upstream
call its jobs made (fallbacks and the task's retries included), as a request served in one go does.

The record is written by the real Celery worker that ends the request's last job.
"""

from __future__ import annotations

import pytest
import requests
from conftest import error_of, usage_records

from gateway.models import ModelRoute, Provider
from images.models import ImageJob

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "images.generations"
FLUX = "@cf/black-forest-labs/flux-1-schnell"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"


def generate(gateway_url: str, key: str, **body: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/images/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "dall-e-2", "prompt": "a cat", "size": "256x256", **body},
        timeout=60,
    )


def dall_e_2_route(upstream_model: str = FLUX) -> int:
    return ModelRoute.objects.get(public_name="dall-e-2", task="image", upstream_model=upstream_model).pk


def test_two_images_count_two_attempts_on_the_route_that_made_them(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    response = generate(gateway_url, api_key, n=2)

    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    jobs = list(ImageJob.objects.order_by("index"))
    assert [(job.upstream_attempts, job.route_id) for job in jobs] == [(1, dall_e_2_route())] * 2
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.attempts, record.route_id, record.upstream_model, record.images) == (2, dall_e_2_route(), FLUX, 2)
    assert len(routes.requests) == 2


def test_a_job_retried_by_its_task_counts_both_deliveries_calls(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=429, code=3040, times=1)  # the first delivery's one call

    response = generate(gateway_url, api_key)  # the task retries after 2 s (images/tasks.py)

    assert response.status_code == 200, response.text
    (job,) = ImageJob.objects.all()
    assert (job.status, job.attempts, job.upstream_attempts, job.route_id) == ("succeeded", 2, 2, dall_e_2_route())
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.attempts, record.route_id) == (200, 2, dall_e_2_route())
    assert [call.model for call in routes.requests] == [FLUX, FLUX]


def test_a_fallback_within_one_delivery_names_the_route_that_answered(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    workers_ai = Provider.objects.get(name="workers-ai")
    sdxl = ModelRoute.objects.create(public_name="dall-e-2", task="image", upstream_model=SDXL, provider=workers_ai,
                                     priority=1)  # fmt: skip
    routes.inject_error(status=503, code=3040, model=FLUX, times=1)

    response = generate(gateway_url, api_key)

    assert response.status_code == 200, response.text
    (job,) = ImageJob.objects.all()
    assert (job.attempts, job.upstream_attempts, job.route_id, job.upstream_model) == (1, 2, sdxl.pk, SDXL)
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.attempts, record.route_id, record.upstream_model) == (2, sdxl.pk, SDXL)
    assert [call.model for call in routes.requests] == [FLUX, SDXL]


def test_a_request_whose_job_failed_names_the_route_it_tried(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, celery_worker
) -> None:
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: nope", times=1)

    error_of(generate(gateway_url, api_key), 400)

    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.attempts, record.route_id, record.images) == (400, 1, dall_e_2_route(), 0)
