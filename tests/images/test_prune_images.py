"""`manage.py prune_images`: the jobs and files of requests older than the cutoff whose jobs have
all ended are deleted, and their links then answer 404; recent requests, requests with a job still
to end, and every usage record stay. `--dry-run` only says what it would delete.

Images are made by the real endpoint and worker; a request still in progress is written as the
rows a generation leaves mid-way (tests/image_files.py), since no worker may end it during the test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from conftest import error_of, usage_records
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from image_files import encoded, owned_image

from gateway.models import UsageRecord
from images import storage
from images.models import ImageJob, ImageRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def remove_files_left(transactional_db: None) -> Iterator[None]:
    """The files this test's jobs still name are deleted with its rows (the images directory is shared)."""
    yield
    for name in ImageJob.objects.exclude(file_name="").values_list("file_name", flat=True):
        storage.delete_image(name)


def image_path(name: str) -> Path:
    return Path(settings.STORAGES["images"]["OPTIONS"]["location"]) / name


def generate(gateway_url: str, key: str, n: int) -> tuple[str, list[str]]:
    """A finished generation: its request id and the signed URLs of its images."""
    answer = requests.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "dall-e-2", "prompt": "a quiet harbour", "size": "256x256", "n": n},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"], [item["url"] for item in answer.json()["data"]]


def age(request_id: str, by: timedelta) -> None:
    then = timezone.now() - by
    ImageRequest.objects.filter(request_id=request_id).update(created_at=then)
    ImageJob.objects.filter(request__request_id=request_id).update(created_at=then)


def in_progress(key: str) -> tuple[str, str]:
    """A request of two images: one made and stored, one still queued. Its request id and file name."""
    name = storage.save_image(encoded("png"), extension="png")
    made = owned_image(name, key, size=image_path(name).stat().st_size)
    ImageJob.objects.create(
        request=made.request,
        index=1,
        owner=made.owner,
        api_key=made.api_key,
        prompt=made.prompt,
        public_model=made.public_model,
        upstream_model=made.upstream_model,
        width=made.width,
        height=made.height,
        output_format="png",
    )
    ImageRequest.objects.filter(pk=made.request_id).update(n=2, pending=1)
    return made.request.request_id, name


def files_of(request_id: str) -> list[str]:
    return sorted(
        ImageJob.objects.filter(request__request_id=request_id)
        .exclude(file_name="")
        .values_list("file_name", flat=True)
    )


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_images", *args, stdout=out)
    return out.getvalue()


def test_old_finished_requests_go_recent_and_unfinished_ones_stay(  # type: ignore[no-untyped-def]
    gateway_url: str, api_key: str, celery_worker
) -> None:
    old, old_urls = generate(gateway_url, api_key, n=2)
    recent, recent_urls = generate(gateway_url, api_key, n=1)
    unfinished, unfinished_file = in_progress(api_key)
    age(old, timedelta(days=2))
    age(recent, timedelta(hours=23))  # inside the one day kept
    age(unfinished, timedelta(days=2))
    old_files, recent_files = files_of(old), files_of(recent)
    old_jobs = list(ImageJob.objects.filter(request__request_id=old).values_list("id", flat=True))
    assert len(old_files) == 2 and len(old_jobs) == 2 and len(recent_files) == 1
    (old_record,) = usage_records(1, request_id=old)

    said = prune("--days", "1", "--dry-run")

    assert said.strip() == "prune_images: would delete 1 request(s) and 2 image(s)."
    assert ImageRequest.objects.count() == 3 and ImageJob.objects.count() == 5
    assert all(image_path(name).is_file() for name in [*old_files, *recent_files, unfinished_file])
    assert all(requests.get(url, timeout=10).status_code == 200 for url in old_urls)

    said = prune("--days", "1")

    assert said.startswith("prune_images: deleted 2 image(s) from requests before "), said
    assert not ImageRequest.objects.filter(request_id=old).exists()
    assert not ImageJob.objects.filter(id__in=old_jobs).exists()
    assert not any(image_path(name).exists() for name in old_files)
    for url in old_urls:
        assert error_of(requests.get(url, timeout=10), 404)["code"] == "image_not_found"
    gone = requests.get(f"{gateway_url}/v1/images/jobs/{old_jobs[0]}", headers={"Authorization": f"Bearer {api_key}"})
    assert error_of(gone, 404)["code"] == "image_job_not_found"
    assert list(UsageRecord.objects.filter(request_id=old)) == [old_record]  # the ledger keeps it

    assert files_of(recent) == recent_files and image_path(recent_files[0]).is_file()
    assert requests.get(recent_urls[0], timeout=10).status_code == 200
    assert ImageJob.objects.filter(request__request_id=unfinished).count() == 2
    assert ImageRequest.objects.get(request_id=unfinished).pending == 1
    assert storage.read_image(unfinished_file) == encoded("png")


def test_without_days_it_keeps_the_configured_retention(settings, api_key: str) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_IMAGE_RETENTION_DAYS = 3
    kept_name = storage.save_image(encoded("png"), extension="png")
    dropped_name = storage.save_image(encoded("png", color=(10, 200, 30)), extension="png")
    kept = owned_image(kept_name, api_key).request.request_id
    dropped = owned_image(dropped_name, api_key).request.request_id
    age(kept, timedelta(days=2, hours=23))
    age(dropped, timedelta(days=3, hours=1))

    said = prune()

    assert said.startswith("prune_images: deleted 1 image(s) from requests before "), said
    assert list(ImageRequest.objects.values_list("request_id", flat=True)) == [kept]
    assert image_path(kept_name).is_file()
    assert not image_path(dropped_name).exists()


@pytest.mark.parametrize("days", ["0", "-1"])
def test_a_retention_under_one_day_is_refused(api_key: str, days: str) -> None:
    name = storage.save_image(encoded("png"), extension="png")
    request_id = owned_image(name, api_key).request.request_id
    age(request_id, timedelta(days=5))

    with pytest.raises(CommandError, match="--days must be at least 1"):
        prune("--days", days)

    assert ImageRequest.objects.filter(request_id=request_id).exists()
    assert image_path(name).is_file()
