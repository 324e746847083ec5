"""The emulator's OpenAI-compatible mode, media side (generic base): moderations, audio
transcriptions, translations and speech, image generations; with requests and the openai SDK.
Audio and pictures are checked by decoding them here (PyAV, Pillow)."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import av
import openai
import pytest
import requests
from audio_files import make_audio
from emulator_helpers import AUTH, emu_fixture, run  # noqa: F401
from PIL import Image

from gateway.testing.emulator import WorkersAIEmulator

TURBO = "@cf/openai/whisper-large-v3-turbo"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
FLUX = "@cf/black-forest-labs/flux-1-schnell"
CATEGORIES = {
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
}


def sdk(emu: WorkersAIEmulator, *, strict: bool = True) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=emu.openai_base_url, api_key="test-token", max_retries=0, _strict_response_validation=strict
    )


def post(emu: WorkersAIEmulator, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    return requests.post(f"{emu.openai_base_url}/{path}", timeout=20, **kwargs)


def upload(emu: WorkersAIEmulator, path: str, audio: bytes, **fields: Any) -> requests.Response:
    return post(emu, path, files={"file": ("speech.wav", audio, "audio/wav")}, data={"model": "whisper-1", **fields})


def seconds_of(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples / frame.sample_rate for frame in container.decode(stream))


# --- moderations ---------------------------------------------------------------------------------------------


def test_moderations_flag_the_harmful_phrases(emu: WorkersAIEmulator) -> None:
    texts = ["How do I build a bomb?", "How do I kill a process in Linux?", "I want to kill myself", "[[unsafe:S10]]"]
    answer = post(emu, "moderations", json={"model": "text-moderation-stable", "input": texts}).json()
    assert answer["id"].startswith("modr-") and answer["model"] == "text-moderation-stable"
    bomb, process, self_harm, hate = answer["results"]
    assert bomb["flagged"] and {k for k, v in bomb["categories"].items() if v} == {
        "violence",
        "illicit",
        "illicit/violent",
    }
    assert not process["flagged"] and not any(process["categories"].values())
    assert self_harm["categories"]["self-harm"] and hate["categories"]["hate"]
    for result in answer["results"]:
        assert set(result["categories"]) == set(result["category_scores"]) == CATEGORIES
        assert all(0 <= score <= 1 for score in result["category_scores"].values())
        flagged = {k for k, v in result["categories"].items() if v}
        assert all(result["category_scores"][k] > 0.5 for k in flagged)
    one = sdk(emu).moderations.create(input="I hate all robots")
    assert one.model == "omni-moderation-latest" and one.results[0].categories.hate is True
    assert post(emu, "moderations", json={"input": 5}).status_code == 400


# --- audio ---------------------------------------------------------------------------------------------------


def test_transcriptions_answer_turbos_transcript_in_every_format(emu: WorkersAIEmulator) -> None:
    audio = make_audio("wav", 6.0)
    native = run(emu, TURBO, {"audio": base64.b64encode(audio).decode()}).json()["result"]
    answer = upload(emu, "audio/transcriptions", audio).json()
    assert answer["text"] == native["text"] and answer["text"].startswith("The morning train")
    assert emu.last_request.path == "/openai/v1/audio/transcriptions" and emu.last_request.model == "whisper-1"
    text = upload(emu, "audio/transcriptions", audio, response_format="text")
    assert text.headers["Content-Type"].startswith("text/plain") and text.text == native["text"] + "\n"
    vtt = upload(emu, "audio/transcriptions", audio, response_format="vtt").text
    assert vtt == native["vtt"]
    srt = upload(emu, "audio/transcriptions", audio, response_format="srt").text
    assert re.match(r"1\n00:00:00,000 --> \d{2}:\d{2}:\d{2},\d{3}\nThe morning", srt)
    assert len(re.findall(r"-->", srt)) == len(native["segments"])
    verbose = upload(emu, "audio/transcriptions", audio, response_format="verbose_json", language="fr").json()
    assert verbose["task"] == "transcribe" and verbose["language"] == "french"
    assert verbose["duration"] == pytest.approx(6.0, abs=0.05)
    assert [s["text"].strip() for s in verbose["segments"]] == [s["text"] for s in native["segments"]]
    assert "words" not in verbose


def test_the_sdk_reads_a_verbose_transcript_with_words(emu: WorkersAIEmulator) -> None:
    transcript = sdk(emu).audio.transcriptions.create(
        model="whisper-1",
        file=("speech.mp3", make_audio("mp3", 4.0), "audio/mpeg"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert transcript.language == "english" and transcript.words and transcript.segments
    assert [w.word for w in transcript.words] == transcript.text.split()
    assert all(a.end <= b.start for a, b in zip(transcript.words, transcript.words[1:], strict=False))
    assert transcript.words[-1].end <= transcript.duration


def test_translations_answer_in_english(emu: WorkersAIEmulator) -> None:
    audio = make_audio("flac", 3.0)
    native = run(emu, TURBO, {"audio": base64.b64encode(audio).decode(), "task": "translate"}).json()["result"]
    translated = sdk(emu).audio.translations.create(model="whisper-1", file=("speech.flac", audio, "audio/flac"))
    assert translated.text == native["text"] and translated.text.startswith("Good evening")
    verbose = upload(emu, "audio/translations", audio, response_format="verbose_json").json()
    assert verbose["task"] == "translate" and verbose["language"] == "english"
    assert upload(emu, "audio/translations", audio, language="de").status_code == 400


def test_audio_uploads_that_hold_no_audio_are_refused(emu: WorkersAIEmulator) -> None:
    refused = post(
        emu, "audio/transcriptions", files={"file": ("notes.txt", b"hello", "text/plain")}, data={"model": "x"}
    )
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert refused.json()["error"]["param"] == "file"
    missing = post(emu, "audio/transcriptions", files={"other": ("a.wav", b"x", "audio/wav")}, data={"model": "x"})
    assert missing.status_code == 400
    as_json = post(emu, "audio/transcriptions", json={"model": "whisper-1"})
    assert as_json.status_code == 400


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("aac", "audio/aac"), ("flac", "audio/flac"), ("wav", "audio/wav")],
)
def test_speech_is_real_audio_in_the_asked_format(emu: WorkersAIEmulator, fmt: str, content_type: str) -> None:
    spoken = post(
        emu,
        "audio/speech",
        json={"model": "tts-1", "input": "one two three four", "voice": "nova", "response_format": fmt},
    )
    assert spoken.status_code == 200 and spoken.headers["Content-Type"] == content_type
    # Four words, 0.4 s each (lossy codecs pad a little).
    assert seconds_of(spoken.content) == pytest.approx(1.6, abs=0.1)


def test_speech_pcm_speed_and_the_sdk(emu: WorkersAIEmulator) -> None:
    body = {"model": "gpt-4o-mini-tts", "input": "one two three four", "voice": "alloy", "response_format": "pcm"}
    pcm = post(emu, "audio/speech", json=body)
    assert pcm.headers["Content-Type"] == "audio/pcm" and len(pcm.content) == 2 * 24000 * 1.6
    fast = post(emu, "audio/speech", json={**body, "speed": 2.0})
    assert len(fast.content) == 2 * 24000 * 0.8
    mp3 = sdk(emu, strict=False).audio.speech.create(model="tts-1", voice="echo", input="hello world")
    assert seconds_of(mp3.content) == pytest.approx(0.8, abs=0.1)
    for bad in ({**body, "voice": "bob"}, {**body, "speed": 9}, {**body, "input": ""}, {**body, "pitch": 1}):
        assert post(emu, "audio/speech", json=bad).status_code == 400, bad


# --- images --------------------------------------------------------------------------------------------------


def test_images_are_real_pictures_of_the_asked_size(emu: WorkersAIEmulator) -> None:
    answer = post(
        emu,
        "images/generations",
        json={"model": SDXL, "prompt": "a red fox", "n": 2, "size": "512x256", "response_format": "b64_json"},
    ).json()
    first, second = (base64.b64decode(item["b64_json"]) for item in answer["data"])
    assert Image.open(io.BytesIO(first)).size == (512, 256) and first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first != second
    native = run(emu, SDXL, {"prompt": "a red fox", "width": 512, "height": 256})
    assert native.content == first
    jpeg = sdk(emu).images.generate(model="gpt-image-1", prompt="x", output_format="jpeg", response_format="b64_json")
    picture = Image.open(io.BytesIO(base64.b64decode(jpeg.data[0].b64_json or "")))
    assert picture.format == "JPEG" and picture.size == (1024, 1024)


def test_images_as_links_and_from_flux(emu: WorkersAIEmulator) -> None:
    linked = sdk(emu).images.generate(model="dall-e-3", prompt="a boat", size="1024x1024", output_format="webp")
    assert linked.data[0].revised_prompt == "a boat"
    fetched = requests.get(linked.data[0].url or "", timeout=10)
    assert fetched.headers["Content-Type"] == "image/webp" and Image.open(io.BytesIO(fetched.content)).format == "WEBP"
    emu.reset()
    assert requests.get(linked.data[0].url or "", timeout=10).status_code == 404
    flux = post(
        emu,
        "images/generations",
        json={"model": FLUX, "prompt": "a cat", "output_format": "jpeg", "response_format": "b64_json"},
    ).json()
    native = run(emu, FLUX, {"prompt": "a cat"}).json()["result"]["image"]
    assert flux["data"][0]["b64_json"] == native
    for bad in (
        {"prompt": "x", "size": "10x10"},
        {"prompt": "x", "n": 11},
        {"prompt": ""},
        {"prompt": "x", "steps": 4},
    ):
        assert post(emu, "images/generations", json=bad).status_code == 400, bad
    assert post(emu, "images/generations", json={"model": FLUX, "prompt": "x", "size": "512x512"}).status_code == 400


# --- injected errors on media paths -----------------------------------------------------------------------


def test_injected_errors_match_the_forms_model(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=429, code=3040, message="Slow down", model="whisper-1", retry_after=2)
    speech = post(emu, "audio/speech", json={"model": "tts-1", "input": "hi", "voice": "alloy"})
    assert speech.status_code == 200
    refused = upload(emu, "audio/transcriptions", make_audio("wav", 1.0))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert refused.json() == {
        "error": {"message": "Slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    emu.inject_error(status=500, code=3043, message="Internal")
    with pytest.raises(openai.InternalServerError):
        sdk(emu).images.generate(prompt="x", response_format="b64_json")
