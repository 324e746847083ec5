"""Uploaded files in an S3 bucket: the `files` storage config/settings.py builds for
GATEWAY_IMAGE_STORAGE=s3, under GATEWAY_S3_FILES_PREFIX, against a local S3 server
(tests/local_s3.py), through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from local_s3 import BUCKET, LocalS3, client, settings_storage

pytestmark = pytest.mark.django_db(transaction=True)

PREFIX = "tenant-a/files"


@pytest.fixture
def s3(settings) -> Iterator[LocalS3]:  # type: ignore[no-untyped-def]
    server = LocalS3()
    settings.STORAGES = {
        **settings.STORAGES,
        "files": settings_storage(server.url, "files", GATEWAY_S3_FILES_PREFIX=PREFIX),
    }
    yield server
    server.stop()


def test_a_file_goes_to_the_bucket_under_its_prefix_and_comes_back(openai_client, routes, s3) -> None:  # type: ignore[no-untyped-def]
    data = b"notes kept in a bucket\n" * 100
    bucket = client(s3.url)

    created = openai_client.files.create(file=("notes.txt", data, "text/plain"), purpose="user_data")

    # moto keeps one in-process backend for every server: list this test's prefix only.
    (stored,) = bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["Contents"]
    assert stored["Key"].startswith(f"{PREFIX}/file_") and stored["Size"] == len(data)
    assert "notes.txt" not in stored["Key"]  # the client's name stays in the database
    assert openai_client.files.content(created.id).content == data

    openai_client.files.delete(created.id)

    assert bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Contents", []) == []
    with pytest.raises(openai.NotFoundError):
        openai_client.files.content(created.id)


def test_a_bucket_out_of_reach_is_a_503(openai_client, routes, s3) -> None:  # type: ignore[no-untyped-def]
    s3.stop()

    with pytest.raises(openai.InternalServerError) as caught:
        openai_client.files.create(file=("notes.txt", b"text", "text/plain"), purpose="user_data")

    assert caught.value.status_code == 503 and caught.value.body["code"] == "service_unavailable"
