"""Uploads the audio endpoints refuse: each gets its 4xx envelope and one usage record, no upload
reaches the upstream, and no temporary file outlives its request."""

from __future__ import annotations

import os

import pytest
import requests
from audio_files import make_audio
from conftest import PERSISTENT, error_of, usage_records
from django.conf import settings
from image_origin import PNG

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/v1/audio/transcriptions"


def post(gateway_url: str, key: str, files: dict | None, data: dict | None = None) -> requests.Response:
    return requests.post(
        f"{gateway_url}{URL}",
        files=files,
        data={"model": "whisper-1", **(data or {})},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def refused(answer: requests.Response, status: int, param: str | None, code: str | None, upstream) -> dict:  # type: ignore[no-untyped-def]
    error = error_of(answer, status)
    assert (error["param"], error["code"]) == (param, code), error
    [record] = usage_records(1, request_id=answer.headers["x-request-id"])
    assert record.status == status and record.endpoint == "audio.transcriptions"
    assert record.audio_seconds == 0
    assert upstream.requests == []  # the positive marker: the record exists, so the request is over
    return error


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.txt", b"This is plainly a text file, not a recording.\n" * 20, "invalid_audio"),
        ("picture.png", PNG, "invalid_audio"),
        ("noise.mp3", bytes(range(256)) * 64, "invalid_audio"),
        ("cut.mp3", make_audio("mp3", 2.0)[:200], "invalid_audio"),  # a header and nothing to decode
    ],
)
def test_what_is_not_audio_is_a_400_naming_file(gateway_url, api_key, routes, name, content, code) -> None:  # type: ignore[no-untyped-def]
    error = refused(post(gateway_url, api_key, {"file": (name, content)}), 400, "file", code, routes)
    assert "Supported formats" in error["message"]


def test_an_empty_file_is_a_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    refused(post(gateway_url, api_key, {"file": ("empty.mp3", b"")}), 400, "file", "empty_file", routes)


def test_a_file_over_the_upload_limit_is_a_413(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_AUDIO_MAX_UPLOAD_BYTES = 50_000
    audio = make_audio("wav", 3.0)  # 96 kB at 16 kHz
    error = refused(post(gateway_url, api_key, {"file": ("talk.wav", audio)}), 413, "file", "file_too_large", routes)
    assert "50000" in error["message"]


def test_a_body_over_the_body_limit_is_a_413_before_it_is_read(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_BODY_BYTES = 20_000
    answer = post(gateway_url, api_key, {"file": ("talk.wav", make_audio("wav", 3.0))})
    refused(answer, 413, None, "request_too_large", routes)


def test_audio_longer_than_the_limit_is_a_400(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_AUDIO_MAX_SECONDS = 5
    answer = post(gateway_url, api_key, {"file": ("long.mp3", make_audio("mp3", 8.0))})
    error = refused(answer, 400, "file", "audio_too_long", routes)
    assert "5 seconds" in error["message"]


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"response_format": "xml"}, "response_format"),
        ({"language": "klingon"}, "language"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": "1.5"}, "temperature"),
        ({"timestamp_granularities[]": "sentence"}, "timestamp_granularities[]"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_fields_are_400s_naming_them(gateway_url, api_key, routes, data, param) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, {"file": ("talk.mp3", make_audio("mp3", 1.0))}, data)
    refused(answer, 400, param, None, routes)


def test_a_missing_file_is_a_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    refused(post(gateway_url, api_key, None, {"language": "en"}), 400, "file", None, routes)


def test_json_instead_of_a_form_is_a_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(
        f"{gateway_url}{URL}",
        json={"model": "whisper-1", "file": "aGVsbG8="},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    error = refused(answer, 400, "file", None, routes)
    assert "multipart/form-data" in error["message"]


def test_a_chat_model_does_not_transcribe(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, {"file": ("talk.mp3", make_audio("mp3", 1.0))}, {"model": "gpt-4"})
    refused(answer, 400, "model", "model_not_supported", routes)


def test_an_upstream_refusal_is_an_envelope(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", times=PERSISTENT)
    answer = post(gateway_url, api_key, {"file": ("talk.mp3", make_audio("mp3", 1.0))})

    error_of(answer, 429)
    assert answer.headers["Retry-After"] == "2"
    [record] = usage_records(1, request_id=answer.headers["x-request-id"])
    assert record.status == 429


def test_no_upload_leaves_a_temporary_file(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so Django spools each to FILE_UPLOAD_TEMP_DIR.
    big = make_audio("wav", 90.0)
    assert len(big) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    before = set(os.listdir(settings.FILE_UPLOAD_TEMP_DIR))
    answers = [
        post(gateway_url, api_key, {"file": ("talk.wav", big)}),  # transcribed
        post(gateway_url, api_key, {"file": ("talk.wav", big)}, {"response_format": "srt"}),
        post(gateway_url, api_key, {"file": ("noise.wav", b"RIFF" + bytes(3_000_000))}),  # refused
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 400]
    usage_records(3, endpoint="audio.transcriptions")  # every request has ended
    assert set(os.listdir(settings.FILE_UPLOAD_TEMP_DIR)) == before
