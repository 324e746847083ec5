"""Generated images in an S3 bucket: the storage config/settings.py builds for GATEWAY_IMAGE_STORAGE=s3,
against a local S3 server (moto in server mode: real HTTP, real boto3, nothing patched).

The storage options are not copied here: they are read from config/settings.py itself, run in a
process of its own with the GATEWAY_S3_* variables set (settings are read once per process), and
put in place with the `settings` fixture. Changing STORAGES sends setting_changed, on which Django
empties its storage handler (django/test/signals.py storages_changed), so the next
`storages["images"]` is built from the new entry; the fixture's undo does the same.
"""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from conftest import database_url, error_of
from image_files import encoded, owned_image
from moto.server import ThreadedMotoServer
from servers import ROOT

from images import signing
from images.storage import ImageMissing, StorageUnavailable, delete_image, read_image, save_image

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "gateway-images"
PREFIX = "tenant-a/images"
REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"


class LocalS3:
    """moto's S3 server on loopback, with the gateway's bucket; `stop()` takes it down mid-test."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.running = True
        client(self.url).create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.running:  # werkzeug closes the listening socket too: connections are refused
            self._server.stop()
            self.running = False


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    server = LocalS3()
    yield server
    server.stop()


def client(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )


def storage_from_settings(endpoint_url: str) -> dict[str, Any]:
    """STORAGES["images"] exactly as config/settings.py builds it for these GATEWAY_S3_* variables."""
    from django.conf import settings

    env = {
        **os.environ,
        # Given, so importing the settings starts no embedded service of its own.
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "GATEWAY_IMAGE_STORAGE": "s3",
        "GATEWAY_S3_BUCKET": BUCKET,
        "GATEWAY_S3_ENDPOINT_URL": endpoint_url,
        "GATEWAY_S3_REGION": REGION,
        "GATEWAY_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "GATEWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "GATEWAY_S3_PREFIX": PREFIX,
    }
    # pickle, not JSON: the options may hold objects (a botocore Config) as well as strings.
    program = (
        "import base64, pickle, config.settings as s;"
        "print(base64.b64encode(pickle.dumps(s.STORAGES['images'])).decode())"
    )
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, check=True, text=True)
    entry: dict[str, Any] = pickle.loads(base64.b64decode(out.stdout))  # noqa: S301 (our own child's output)
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    return entry


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
