"""Generated images in an S3 bucket: the storage config/settings.py builds for GATEWAY_IMAGE_STORAGE=s3,
against a local S3 server (tests/local_s3.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from conftest import error_of
from image_files import encoded, owned_image
from local_s3 import BUCKET, LocalS3, client, settings_storage

from images import signing
from images.storage import ImageMissing, StorageUnavailable, delete_image, read_image, save_image

pytestmark = pytest.mark.django_db(transaction=True)

PREFIX = "tenant-a/images"


def storage_from_settings(endpoint_url: str) -> dict[str, Any]:
    return settings_storage(endpoint_url, "images", GATEWAY_S3_PREFIX=PREFIX)


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    server = LocalS3()
    yield server
    server.stop()


def test_an_image_goes_to_the_bucket_under_the_prefix_is_served_by_a_link_and_deleted(  # type: ignore[no-untyped-def]
    gateway_url, settings, s3, api_key
) -> None:
    settings.STORAGES = {**settings.STORAGES, "images": storage_from_settings(s3.url)}
    png = encoded("png")
    bucket = client(s3.url)

    name = save_image(png, extension="png")

    key = f"{PREFIX}/{name}"
    assert [item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    head = bucket.head_object(Bucket=BUCKET, Key=key)
    assert (head["ContentType"], head["ContentLength"]) == ("image/png", len(png))
    assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == png
    assert read_image(name) == png

    link = gateway_url + signing.signed_path(name, 300)
    response = requests.get(link, headers={"Accept": "image/*"})
    assert (response.status_code, response.content) == (200, png)
    assert response.headers["Content-Type"] == "image/png"
    assert requests.head(link).headers["Content-Length"] == str(len(png))
    owned_image(name, api_key, size=len(png))
    keyed = {"Authorization": f"Bearer {api_key}", "If-None-Match": response.headers["ETag"]}
    assert requests.get(f"{gateway_url}/v1/images/get/{name}", headers=keyed).status_code == 304

    delete_image(name)

    assert bucket.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    with pytest.raises(ClientError):
        bucket.head_object(Bucket=BUCKET, Key=key)
    assert error_of(requests.get(link), 404)["code"] == "image_not_found"
    assert error_of(requests.get(f"{gateway_url}/v1/images/get/{name}", headers=keyed), 404)["code"] == (
        "image_not_found"
    )
    with pytest.raises(ImageMissing):
        read_image(name)
    delete_image(name)  # already gone: no error


def test_a_bucket_gone_out_of_reach_is_a_503_with_a_clear_message(gateway_url, settings, s3, api_key) -> None:  # type: ignore[no-untyped-def]
    settings.STORAGES = {**settings.STORAGES, "images": storage_from_settings(s3.url)}
    name = save_image(encoded("png"), extension="png")
    owned_image(name, api_key)
    link = gateway_url + signing.signed_path(name, 300)
    assert requests.get(link).status_code == 200

    s3.stop()

    started = time.monotonic()
    for response in (
        requests.get(link),
        requests.get(f"{gateway_url}/v1/images/get/{name}", headers={"Authorization": f"Bearer {api_key}"}),
        requests.head(link, headers={"If-None-Match": '"x"'}),
    ):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        if response.request.method == "GET":
            error = error_of(response, 503)
            assert (error["code"], error["type"]) == ("service_unavailable", "server_error")
            assert error["message"] == "The image storage cannot be reached right now; retry in a few seconds."
    # A refused connection is retried by botocore a few times, with short back-offs, then given up.
    assert time.monotonic() - started < 30
    with pytest.raises(StorageUnavailable):
        save_image(encoded("png"), extension="png")
    with pytest.raises(StorageUnavailable):
        delete_image(name)
