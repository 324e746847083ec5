"""Audio, images and moderation end to end through a provider of kind openai_compatible: the live
gateway, the official openai SDK, and the emulator's generic OpenAI base ({root}/openai/v1).

The seeded Workers AI routes for whisper-1, tts-1, dall-e-3 and omni-moderation-latest are
deleted, and the same names pointed at the OpenAI-compatible upstream, as an operator would in the
admin. What the emulator answers there is documented in gateway/testing/emulator/openai_audio.py,
openai_images.py and openai_moderations.py.
"""

from __future__ import annotations

import base64
import io

import av
import openai
import pytest
import requests
from audio_files import make_audio
from conftest import EMULATOR_TOKEN, error_of, usage_records
from PIL import Image

from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = "openai-upstream"
LLAMA_GUARD = "@cf/meta/llama-guard-3-8b"
ROUTES = (
    ("whisper-1", "transcription", "whisper-1"),
    ("whisper-1", "translation", "whisper-1"),
    ("tts-1", "speech", "tts-1"),
    ("dall-e-3", "image", "dall-e-3"),
    ("omni-moderation-latest", "moderation", "omni-moderation-latest"),
    ("text-moderation-latest", "moderation", LLAMA_GUARD),  # a chat model judging, on the same upstream
)
SECONDS = 6.0


@pytest.fixture(name="upstream_routes")
def upstream_routes_fixture(routes: WorkersAIEmulator) -> WorkersAIEmulator:
    from gateway.models import ModelRoute, Provider

    provider = Provider.objects.create(
        name=PROVIDER,
        kind=Provider.Kind.OPENAI_COMPATIBLE,
        base_url=routes.openai_base_url,
        api_token_env="",
        api_token=EMULATOR_TOKEN,
        read_timeout=10,
    )
    for route in ModelRoute.objects.filter(public_name__in={name for name, _, _ in ROUTES}):
        route.delete()  # one by one: each delete drops the cached route table
    for public_name, task, upstream_model in ROUTES:
        ModelRoute.objects.create(public_name=public_name, task=task, upstream_model=upstream_model, provider=provider)
    return routes


def openai_posts(emulator: WorkersAIEmulator, endpoint: str) -> list:  # type: ignore[type-arg]
    return [r for r in emulator.requests if r.method == "POST" and r.path == f"/openai/v1/{endpoint}"]


# --- audio ---------------------------------------------------------------------------------------


def test_a_transcription_is_the_upstreams_with_its_seconds_billed(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    transcript = openai_client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.mp3", make_audio("mp3", SECONDS)),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="fr",
    )

    words = round(2.5 * SECONDS)
    assert transcript.text.startswith("The morning train left the station")
    assert len(transcript.text.split()) == words
    assert transcript.language == "french"
    assert transcript.duration == pytest.approx(SECONDS, abs=0.05)
    assert len(transcript.words) == words
    assert transcript.segments and transcript.segments[0].avg_logprob == -0.18
    (sent,) = openai_posts(upstream_routes, "audio/transcriptions")
    assert sent.headers["authorization"] == f"Bearer {EMULATOR_TOKEN}"
    [record] = usage_records(1)
    assert (record.endpoint, record.status, record.provider) == ("audio.transcriptions", 200, PROVIDER)
    assert (record.public_model, record.upstream_model) == ("whisper-1", "whisper-1")
    assert record.audio_seconds == pytest.approx(SECONDS, abs=0.05)


def test_a_translation_goes_to_the_upstreams_translations(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.translations.create(
        model="whisper-1", file=("talk.webm", make_audio("webm", SECONDS)), response_format="text"
    )

    assert text.startswith("Good evening and welcome")
    assert len(openai_posts(upstream_routes, "audio/translations")) == 1
    [record] = usage_records(1)
    assert (record.endpoint, record.provider) == ("audio.translations", PROVIDER)


def test_raw_aac_reaches_the_upstream_as_mp3(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    transcript = openai_client.audio.transcriptions.create(model="whisper-1", file=("talk.aac", make_audio("aac", 4.0)))

    assert len(transcript.text.split()) == 10  # 2.5 words a second of what the upstream decoded
    (sent,) = openai_posts(upstream_routes, "audio/transcriptions")
    assert b'filename="audio.mp3"' in sent.body  # not a format OpenAI takes: the family transcoded it
    assert b"Content-Type: audio/mpeg" in sent.body


def test_speech_decodes_as_audio_of_the_spoken_length(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    text = "the quick brown fox jumps"
    response = openai_client.audio.speech.create(model="tts-1", voice="echo", input=text, response_format="flac")
    data = response.read()

    with av.open(io.BytesIO(data)) as container:
        assert container.format.name == "flac"
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert samples / rate == pytest.approx(0.4 * len(text.split()), abs=0.2)
    (sent,) = openai_posts(upstream_routes, "audio/speech")
    assert sent.json == {"model": "tts-1", "input": text, "voice": "echo", "response_format": "mp3"}
    [record] = usage_records(1)
    assert (record.endpoint, record.provider, record.characters) == ("audio.speech", PROVIDER, len(text))


# --- images --------------------------------------------------------------------------------------


def test_an_image_is_the_asked_size(openai_client, upstream_routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.images.generate(
        model="dall-e-3", prompt="a lighthouse", size="1024x1792", response_format="b64_json", output_format="webp"
    )

    picture = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json, validate=True)))
    assert (picture.format, picture.size) == ("WEBP", (1024, 1792))
    (sent,) = openai_posts(upstream_routes, "images/generations")
    assert sent.json["size"] == "1024x1792" and sent.json["response_format"] == "b64_json"
    [record] = usage_records(1, endpoint="images.generations")
    assert (record.status, record.images, record.provider) == (200, 1, PROVIDER)


# --- moderation ----------------------------------------------------------------------------------


def test_moderation_answers_the_upstreams_categories_and_scores(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(
        model="omni-moderation-latest", input=["I am going to stab him", "a quiet afternoon", ""]
    )

    harmful, quiet, empty = (result.model_dump(by_alias=True) for result in moderation.results)
    assert harmful["flagged"] and not quiet["flagged"] and not empty["flagged"]
    assert {name for name, flagged in harmful["categories"].items() if flagged} == {
        "violence",
        "illicit",
        "illicit/violent",
    }
    assert harmful["category_scores"]["violence"] == 0.98  # the upstream's score, not 1.0
    assert quiet["category_scores"]["hate"] == 0.0001
    assert len(harmful["categories"]) == len(harmful["category_scores"]) == 13
    assert harmful["category_applied_input_types"]["hate"] == ["text"]
    (sent,) = openai_posts(upstream_routes, "moderations")
    assert sent.json == {"model": "omni-moderation-latest", "input": ["I am going to stab him", "a quiet afternoon"]}
    [record] = usage_records(1)
    assert (record.endpoint, record.provider, record.upstream_model) == (
        "moderations",
        PROVIDER,
        "omni-moderation-latest",
    )
    assert record.usage_estimated and record.prompt_tokens > 0 and record.completion_tokens == 0


def test_a_llama_guard_route_is_asked_through_chat_completions(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(model="text-moderation-latest", input="[[unsafe:S10]]")

    assert moderation.results[0].flagged and moderation.results[0].categories.hate
    assert moderation.results[0].category_scores.hate == 1.0  # Llama Guard's verdict has no scores
    (sent,) = openai_posts(upstream_routes, "chat/completions")
    assert sent.json["model"] == LLAMA_GUARD
    assert openai_posts(upstream_routes, "moderations") == []


# --- errors --------------------------------------------------------------------------------------


def test_an_upstream_refusal_is_the_gateways_envelope(gateway_url, api_key, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    upstream_routes.inject_error(status=400, code=5006, message="Input is not allowed.", model="omni-moderation-latest")

    response = requests.post(
        f"{gateway_url}/v1/moderations",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "omni-moderation-latest", "input": "hello"},
        timeout=30,
    )

    error = error_of(response, 400)
    assert error["code"] == "upstream_bad_request"
    assert "Input is not allowed." in error["message"]
    [record] = usage_records(1)
    assert (record.status, record.error_code, record.provider) == (400, "upstream_bad_request", PROVIDER)


def test_an_upstream_refusal_reaches_the_sdk_as_its_status(openai_client, upstream_routes) -> None:  # type: ignore[no-untyped-def]
    upstream_routes.inject_error(status=400, code=5006, message="Unsupported voice for this model.", model="tts-1")

    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.audio.speech.create(model="tts-1", voice="alloy", input="hello").read()

    assert raised.value.status_code == 400
    assert "Unsupported voice" in raised.value.message
