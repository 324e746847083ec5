"""POST /v1/audio/translations: English text through whisper's own `task: "translate"`."""

from __future__ import annotations

import pytest
import requests
from audio_files import make_audio
from conftest import error_of, usage_records

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sdk_translates_with_whisper_s_own_task(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.translations.create(model="whisper-1", file=("rede.mp3", make_audio("mp3", 4.0)))

    assert result.text.startswith("Good evening")  # the emulator's translation paragraph
    assert len(routes.requests) == 1  # one model, not a chain of three
    sent = routes.last_request
    assert sent.model == "@cf/openai/whisper-large-v3-turbo"
    assert sent.json["task"] == "translate"
    assert "language" not in sent.json  # translations take no language field
    [record] = usage_records(1, endpoint="audio.translations")
    assert record.status == 200 and record.audio_seconds == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_translations_come_in_the_text_formats(openai_client, routes, response_format: str) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.translations.create(
        model="whisper-1", file=("rede.wav", make_audio("wav", 3.0)), response_format=response_format
    )

    assert "Good evening" in text
    starts = {"text": "Good", "srt": "1\n00:00:00,000 --> ", "vtt": "WEBVTT\n\n00:00:00.000 --> "}
    assert text.startswith(starts[response_format])


def test_verbose_json_says_the_task_was_translate(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.translations.create(
        model="whisper-1", file=("rede.ogg", make_audio("ogg", 5.0)), response_format="verbose_json"
    )

    assert result.task == "translate"
    assert result.duration == pytest.approx(5.0, abs=0.05)
    assert result.segments and result.segments[-1].end <= 5.0


def post(gateway_url: str, key: str, model: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/audio/translations",
        files={"file": ("rede.mp3", make_audio("mp3", 1.0))},
        data={"model": model},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_model_with_no_translation_route_is_a_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, "whisper-tiny-en")

    error = error_of(answer, 400)
    assert (error["param"], error["code"]) == ("model", "model_not_supported")
    usage_records(1, endpoint="audio.translations", status=400)
    assert routes.requests == []


def test_a_translation_route_to_a_model_that_cannot_translate_is_a_clear_400(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    # An operator's mistake: a translation route whose model only transcribes.
    ModelRoute.objects.create(
        public_name="tiny-translate",
        task="translation",
        upstream_model="@cf/openai/whisper-tiny-en",
        provider=Provider.objects.get(name="workers-ai"),
    )
    answer = post(gateway_url, api_key, "tiny-translate")

    error = error_of(answer, 400)
    assert (error["param"], error["code"]) == ("model", "translation_not_supported")
    assert "@cf/openai/whisper-tiny-en" in error["message"]
    usage_records(1, endpoint="audio.translations", status=400)
    assert routes.requests == []
