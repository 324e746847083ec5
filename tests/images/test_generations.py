"""POST /v1/images/generations end to end: the live gateway, the real Celery worker and the emulator.

Every answer is checked by decoding it with Pillow (size and format), every `url` by fetching it
without a key, and every request by its one usage record (written by the worker that ends the
request's last job, gateway/accounting/handoff.py) and by what the emulator was sent.
"""

from __future__ import annotations

import base64
import io
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import error_of, make_key, usage_records, wait_for_spool_drained
from PIL import Image

from gateway.models import Price, UsageRecord
from images.models import ImageJob, ImageRequest

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "images.generations"
FLUX = "@cf/black-forest-labs/flux-1-schnell"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def decoded(b64: str | None) -> Image.Image:
    assert b64, "no b64_json in the answer"
    picture = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    picture.load()
    return picture


def fetched(url: str) -> requests.Response:
    """The URL fetched as an `<img>` tag would: no Authorization header, no key anywhere."""
    session = requests.Session()
    session.headers.clear()
    response = session.get(url, timeout=10)
    assert "Authorization" not in response.request.headers
    return response


def file_name(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/v1/images/get/"), url
    return path.removeprefix("/v1/images/get/")


def upstream_calls(routes, model: str = FLUX) -> list:  # type: ignore[no-untyped-def]
    return [captured for captured in routes.requests if captured.model == model]


def generate(gateway_url: str, key: str, **body: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/images/generations", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=60
    )


# --- What comes back ------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("size", ["1024x1024", "1792x1024", "1024x1792"])
def test_dall_e_3_b64_json_is_a_real_image_of_exactly_the_size_and_format(  # type: ignore[no-untyped-def]
    openai_client, celery_worker, size, output_format
) -> None:
    prompt = f"a lighthouse at dusk, {size}, {output_format}"
    result = openai_client.images.generate(
        model="dall-e-3", prompt=prompt, size=size, response_format="b64_json", output_format=output_format
    )

    (item,) = result.data
    picture = decoded(item.b64_json)
    width, height = (int(side) for side in size.split("x"))
    assert (picture.format, picture.size) == (PIL_FORMATS[output_format], (width, height))
    assert item.url is None
    assert item.revised_prompt == prompt  # dall-e-3 always reports the prompt it drew
    assert (result.size, result.output_format) == (size, output_format)
    assert abs(result.created - time.time()) < 60
    (job,) = ImageJob.objects.all()
    assert (job.status, job.width, job.height, job.output_format) == ("succeeded", width, height, output_format)


def test_a_lower_output_compression_gives_a_smaller_jpeg(openai_client, celery_worker) -> None:  # type: ignore[no-untyped-def]
    sizes = {}
    for compression in (10, 90):
        result = openai_client.images.generate(
            model="dall-e-2",
            prompt="a field of sunflowers",
            size="512x512",
            response_format="b64_json",
            output_format="jpeg",
            output_compression=compression,
        )
        picture = decoded(result.data[0].b64_json)
        assert (picture.format, picture.size) == ("JPEG", (512, 512))
        sizes[compression] = len(base64.b64decode(result.data[0].b64_json))

    assert sizes[10] < sizes[90], sizes
    assert sorted(ImageJob.objects.values_list("output_compression", flat=True)) == [10, 90]


@pytest.mark.parametrize("size", ["512x512", "256x256"])
def test_dall_e_2_n_3_gives_three_distinct_urls_that_open_without_a_key(  # type: ignore[no-untyped-def]
    openai_client, routes, celery_worker, size
) -> None:
    result = openai_client.images.generate(model="dall-e-2", prompt="three cats", n=3, size=size)

    urls = [item.url for item in result.data]
    assert len(urls) == 3 and len(set(urls)) == 3, urls
    assert all(item.b64_json is None and item.revised_prompt is None for item in result.data)
    side = int(size.split("x")[0])
    for url in urls:
        response = fetched(url)
        assert response.status_code == 200, response.text[:200]
        assert response.headers["Content-Type"] == "image/png"
        picture = Image.open(io.BytesIO(response.content))
        assert (picture.format, picture.size) == ("PNG", (side, side))
    names = [file_name(url) for url in urls]
    assert len(set(names)) == 3
    jobs = list(ImageJob.objects.order_by("index"))
    assert [(job.index, job.status, job.file_name) for job in jobs] == [
        (index, "succeeded", name) for index, name in enumerate(names)
    ]
    assert len({job.id for job in jobs}) == 3
    (group,) = ImageRequest.objects.all()
    assert (group.n, group.pending, group.settled_at is not None) == (3, 0, True)
    assert len(upstream_calls(routes)) == 3


def test_a_url_opens_at_once_and_is_a_404_once_it_has_expired(  # type: ignore[no-untyped-def]
    openai_client, celery_worker, settings
) -> None:
    settings.GATEWAY_IMAGE_URL_TTL_SECONDS = 1
    result = openai_client.images.generate(model="dall-e-2", prompt="a short-lived picture", size="256x256")
    url = result.data[0].url
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert expires - time.time() <= 2

    assert fetched(url).status_code == 200
    deadline = time.monotonic() + 5
    while (response := fetched(url)).status_code == 200:
        assert time.monotonic() < deadline, "the link still opened 5 s after it was handed out"
        time.sleep(0.1)
    assert time.time() >= expires
    assert error_of(response, 404)["code"] == "image_not_found"


def test_a_url_with_an_altered_signature_or_expiry_is_a_404(openai_client, celery_worker) -> None:  # type: ignore[no-untyped-def]
    url = openai_client.images.generate(model="dall-e-2", prompt="a guarded picture", size="256x256").data[0].url
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    expires, signature = query["expires"][0], query["signature"][0]
    assert int(expires) - time.time() == pytest.approx(3600, abs=30)  # GATEWAY_IMAGE_URL_TTL_SECONDS
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]

    assert fetched(url).status_code == 200
    for query_string in (f"expires={expires}&signature={flipped}", f"expires={int(expires) + 1}&signature={signature}"):
        assert error_of(fetched(f"{base}?{query_string}"), 404)["code"] == "image_not_found", query_string
    assert error_of(fetched(base), 404)["code"] == "image_not_found"


def test_openais_defaults_and_the_knobs_without_effect_are_accepted(openai_client, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    plain = openai_client.images.generate(prompt="a default picture")  # dall-e-2, 1024x1024, url, png
    knobs = openai_client.images.generate(
        model="dall-e-3", prompt="a tuned picture", quality="hd", style="natural", user="someone", n=1
    )

    assert (plain.size, plain.output_format, knobs.size) == ("1024x1024", "png", "1024x1024")
    picture = Image.open(io.BytesIO(fetched(plain.data[0].url).content))
    assert (picture.format, picture.size) == ("PNG", (1024, 1024))
    assert knobs.data[0].url and knobs.data[0].revised_prompt == "a tuned picture"
    records = usage_records(2, endpoint=ENDPOINT)
    assert [(r.public_model, r.status, r.images) for r in records] == [("dall-e-2", 200, 1), ("dall-e-3", 200, 1)]
    sent = [call.json for call in upstream_calls(routes)]
    assert sent == [{"prompt": "a default picture"}, {"prompt": "a tuned picture"}]


# --- What the upstream is sent --------------------------------------------------------------------


def test_flux_is_sent_the_prompt_alone(openai_client, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    prompt = "an origami crane on a desk"
    openai_client.images.generate(model="dall-e-2", prompt=prompt, size="512x512")

    (call,) = upstream_calls(routes)
    assert call.json == {"prompt": prompt}  # FLUX refuses width and height
    assert len(routes.requests) == 1


@pytest.mark.parametrize("size", ["512x512", "1024x1536"])
def test_a_raw_sdxl_name_is_sent_the_size_and_answers_it(openai_client, routes, celery_worker, size) -> None:  # type: ignore[no-untyped-def]
    prompt = "a watercolour harbour"
    result = openai_client.images.generate(model=SDXL, prompt=prompt, size=size, response_format="b64_json")

    width, height = (int(side) for side in size.split("x"))
    (call,) = upstream_calls(routes, SDXL)
    assert call.json == {"prompt": prompt, "width": width, "height": height}
    picture = decoded(result.data[0].b64_json)
    assert (picture.format, picture.size) == ("PNG", (width, height))
    assert result.data[0].revised_prompt is None  # the prompt was drawn as given
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.public_model, record.upstream_model, record.images) == (SDXL, SDXL, 1)


def test_a_dall_e_3_prompt_longer_than_flux_takes_is_cut_and_reported_as_revised(  # type: ignore[no-untyped-def]
    openai_client, routes, celery_worker
) -> None:
    prompt = "".join(f"{number:05d} " for number in range(500))  # 3000 characters, each place distinct
    assert len(prompt) == 3000
    result = openai_client.images.generate(model="dall-e-3", prompt=prompt, response_format="url")

    (call,) = upstream_calls(routes)
    assert call.json == {"prompt": prompt[:2048]}
    assert result.data[0].revised_prompt == prompt[:2048]
    assert ImageJob.objects.get().revised_prompt == prompt[:2048]


# --- Usage and budgets ----------------------------------------------------------------------------


def set_flux_price(usd_per_image: str) -> None:
    Price.objects.update_or_create(upstream_model=FLUX, defaults={"usd_per_image": Decimal(usd_per_image)})


def test_one_usage_record_per_request_priced_per_image(openai_client, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    set_flux_price("0.01")
    raw = openai_client.images.with_raw_response.generate(model="dall-e-2", prompt="a mosaic", n=3, size="256x256")
    assert len(raw.parse().data) == 3

    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert wait_for_spool_drained()
    assert UsageRecord.objects.filter(endpoint=ENDPOINT).count() == 1
    assert record.request_id == raw.headers["x-request-id"]
    assert (record.status, record.error_code, record.images) == (200, "", 3)
    assert (record.public_model, record.upstream_model, record.provider) == ("dall-e-2", FLUX, "workers-ai")
    assert record.cost_usd == Decimal("0.03")
    assert record.api_key.name == "test"
    assert len(upstream_calls(routes)) == 3


def test_a_usd_budget_short_of_n_images_is_a_429_before_any_upstream_call(  # type: ignore[no-untyped-def]
    gateway_url, routes, celery_worker
) -> None:
    set_flux_price("0.01")
    key = make_key("images-budget", quota_usd=Decimal("0.025"))

    error = error_of(generate(gateway_url, key, model="dall-e-2", prompt="too many", n=3, size="256x256"), 429)

    assert error["code"] == "insufficient_quota"
    (refused,) = usage_records(1, endpoint=ENDPOINT)
    assert (refused.status, refused.error_code, refused.images) == (429, "insufficient_quota", 0)
    assert routes.requests == []
    assert (ImageJob.objects.count(), ImageRequest.objects.count()) == (0, 0)
    # The same key can still afford two images: the refusal was the budget's arithmetic.
    assert generate(gateway_url, key, model="dall-e-2", prompt="fits", n=2, size="256x256").status_code == 200
    usage_records(2, endpoint=ENDPOINT)
    # The worker's settlement charged the two images to the budget: one more no longer fits.
    error = error_of(generate(gateway_url, key, model="dall-e-2", prompt="one more", size="256x256"), 429)
    assert error["code"] == "insufficient_quota"
    records = usage_records(3, endpoint=ENDPOINT)
    assert [(r.status, r.images, r.cost_usd) for r in records] == [
        (429, 0, Decimal(0)),
        (200, 2, Decimal("0.02")),
        (429, 0, Decimal(0)),
    ]
    assert len(upstream_calls(routes)) == 2
