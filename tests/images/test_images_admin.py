"""Image jobs in the admin, as an operator uses it: logged in over HTTP to the live server, the
changelist shows each image as a thumbnail that loads without a key, and the retry action runs a
failed job again on the real Celery worker without writing its request's usage record twice.
"""

from __future__ import annotations

import html
import io
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import error_of, usage_records
from django.contrib.auth import get_user_model
from fault_stack import eventually
from PIL import Image

from gateway.models import UsageRecord
from gateway.testing.emulator import WorkersAIEmulator
from images import storage
from images.models import ImageJob

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/images/imagejob/"
PASSWORD = "operator-password-for-tests"
THUMBNAIL = re.compile(r'<img src="(/v1/images/get/img_[0-9a-f]{32}\.png\?[^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
THUMBNAIL_SECONDS = 600  # images/admin.py: a thumbnail's link opens for ten minutes


@pytest.fixture
def operator(gateway_url: str, transactional_db: None) -> requests.Session:
    """A superuser's browser session on the live admin, logged in through the login form."""
    get_user_model().objects.create_superuser("operator", password=PASSWORD)
    session = requests.Session()
    form = session.get(f"{gateway_url}/admin/login/", timeout=10)
    assert form.status_code == 200
    done = session.post(
        f"{gateway_url}/admin/login/?next=/admin/",
        data={"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(form.text),
              "next": "/admin/"},
        timeout=10,
    )  # fmt: skip
    assert done.status_code == 200 and done.url == f"{gateway_url}/admin/", done.url
    assert "Log out" in done.text
    return session


def csrf_token(page: str) -> str:
    match = CSRF.search(page)
    assert match, page[:2000]
    return match.group(1)


def generate(gateway_url: str, key: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "dall-e-2", "prompt": "an orange kite over dunes", "size": "256x256"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def picture(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.format, image.size


def test_the_changelist_shows_each_image_as_a_thumbnail_that_opens_without_a_key(  # type: ignore[no-untyped-def]
    operator: requests.Session, gateway_url: str, api_key: str, celery_worker
) -> None:
    answer = generate(gateway_url, api_key)
    assert answer.status_code == 200, answer.text
    job = ImageJob.objects.get(request__request_id=answer.headers["x-request-id"])
    generated = requests.get(answer.json()["data"][0]["url"], timeout=10).content

    page = operator.get(f"{gateway_url}{CHANGELIST}", timeout=10)

    assert page.status_code == 200
    assert job.id in page.text and "succeeded" in page.text
    (src,) = (html.unescape(found) for found in THUMBNAIL.findall(page.text))
    assert urlsplit(src).path == f"/v1/images/get/{job.file_name}"
    query = parse_qs(urlsplit(src).query)
    assert set(query) == {"expires", "signature"}
    assert 0 < int(query["expires"][0]) - time.time() <= THUMBNAIL_SECONDS + 1
    thumbnail = requests.get(f"{gateway_url}{src}", timeout=10)  # a fresh client: no key, no admin session
    assert thumbnail.status_code == 200, thumbnail.text
    assert thumbnail.headers["Content-Type"] == "image/png"
    assert thumbnail.content == generated
    assert picture(thumbnail.content) == ("PNG", (256, 256))


def test_retrying_a_failed_job_makes_its_image_and_bills_nothing_more(  # type: ignore[no-untyped-def]
    operator: requests.Session, gateway_url: str, api_key: str, routes: WorkersAIEmulator, celery_worker
) -> None:
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: x", times=1)
    answer = generate(gateway_url, api_key)
    error_of(answer, 400)
    request_id = answer.headers["x-request-id"]
    job = ImageJob.objects.get(request__request_id=request_id)
    assert (job.status, job.error_status, job.attempts, job.file_name) == ("failed", 400, 1, "")
    (billed,) = usage_records(1, request_id=request_id)
    assert (billed.status, billed.images) == (400, 0)

    listed = operator.get(f"{gateway_url}{CHANGELIST}?status__exact=failed", timeout=10)
    assert listed.status_code == 200 and job.id in listed.text
    retried = operator.post(
        f"{gateway_url}{CHANGELIST}?status__exact=failed",
        data={"action": "retry_failed", "_selected_action": [job.id], "select_across": "0", "index": "0",
              "csrfmiddlewaretoken": csrf_token(listed.text)},
        timeout=10,
    )  # fmt: skip

    assert retried.status_code == 200, retried.text[:2000]
    assert "1 job(s) queued again." in retried.text
    eventually(
        lambda: ImageJob.objects.filter(id=job.id, status=ImageJob.Status.SUCCEEDED).exists(),
        30,
        "the worker running the retried job",
    )
    job.refresh_from_db()
    assert (job.attempts, job.error, job.error_code, job.error_status) == (2, "", "", None)
    assert job.file_name and job.file_bytes == len(storage.read_image(job.file_name))
    assert job.request.pending == 0
    polled = requests.get(f"{gateway_url}/v1/images/jobs/{job.id}", headers={"Authorization": f"Bearer {api_key}"})
    assert polled.status_code == 200 and polled.json()["status"] == "succeeded", polled.text
    image = requests.get(polled.json()["result"]["url"], timeout=10)
    assert image.status_code == 200 and picture(image.content) == ("PNG", (256, 256))

    # A later request's record in the ledger: anything the retry spooled before it is written too.
    chat = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert chat.status_code == 200
    usage_records(1, request_id=chat.headers["x-request-id"])
    (record,) = UsageRecord.objects.filter(request_id=request_id)
    assert (record.pk, record.status, record.images, record.cost_usd) == (
        billed.pk,
        billed.status,
        billed.images,
        billed.cost_usd,
    )
