"""OpenAICompatibleProvider's audio, image and moderation calls against the emulator's generic
OpenAI base ({root}/openai/v1), over real HTTP.

The emulator's rules (gateway/testing/emulator/openai_audio.py, openai_images.py,
openai_moderations.py): transcripts are whisper's, 2.5 words a second of the real audio, one
segment per sentence; speech is 0.4 s of tone a word; pictures are drawn at the asked size;
moderation flags the harmful-phrase table with scores 0.98, others 0.0001. Its refusals are
OpenAI-shaped and strict: an unknown form or body field is a 400, so a passing call also proves
the adapter sent only fields OpenAI documents.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser

import av
import pytest
from audio_files import make_audio
from PIL import Image

from gateway.providers.audio import SpeechRequest, TranscriptionRequest
from gateway.providers.base import ProviderConfig, ProviderError
from gateway.providers.images import ImageGenerationRequest
from gateway.providers.moderation import ModerationProvider, ModerationRequest
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from gateway.testing.emulator import CapturedRequest, WorkersAIEmulator

TOKEN = "media-token"
SECONDS = 9.0  # several sentences: several segments
WORDS = round(2.5 * SECONDS)


@pytest.fixture(scope="module", name="media_emulator")
def media_emulator_fixture() -> Iterator[WorkersAIEmulator]:
    emu = WorkersAIEmulator(token=TOKEN, port=0)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(name="emu")
def emu_fixture(media_emulator: WorkersAIEmulator) -> WorkersAIEmulator:
    media_emulator.reset()
    return media_emulator


@pytest.fixture(name="provider")
def provider_fixture(emu: WorkersAIEmulator) -> OpenAICompatibleProvider:
    config = ProviderConfig(kind="openai_compatible", base_url=emu.openai_base_url, account_id="", api_token=TOKEN)
    return OpenAICompatibleProvider(config)


@pytest.fixture(scope="module", name="recording")
def recording_fixture() -> bytes:
    return make_audio("mp3", SECONDS)


def form_of(captured: CapturedRequest) -> tuple[dict[str, list[str]], dict[str, tuple[str, str, bytes]]]:
    """A multipart body as sent: its fields (every value of a repeated name) and its files."""
    head = b"Content-Type: " + captured.headers["content-type"].encode() + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + captured.body)
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            files[name] = (part.get_filename(), part.get_content_type(), payload)
        else:
            fields.setdefault(name, []).append(payload.decode())
    return fields, files


def posts(emu: WorkersAIEmulator) -> list[CapturedRequest]:
    return [captured for captured in emu.requests if captured.method == "POST"]


# --- speech to text ------------------------------------------------------------------------------


def test_a_transcription_reads_every_verbose_field(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator, recording: bytes
) -> None:
    request = TranscriptionRequest(model="whisper-1", audio=recording, container="mp3", language="de", prompt="Trains.")
    transcript = provider.transcribe(request)

    assert transcript.text.startswith("The morning train left the station")
    assert len(transcript.text.split()) == WORDS
    # OpenAI names the language ("german"); the family's renderer reads names and codes alike.
    assert transcript.language == "german"
    assert transcript.duration == pytest.approx(SECONDS, abs=0.05)
    assert len(transcript.segments) >= 2
    assert all(segment.no_speech_prob == 0.01 and segment.avg_logprob == -0.18 for segment in transcript.segments)
    assert [segment.start < segment.end for segment in transcript.segments] == [True] * len(transcript.segments)
    assert [word.word for word in transcript.words] == transcript.text.split()
    assert transcript.words[-1].end <= SECONDS

    (sent,) = posts(emu)
    assert sent.path == "/openai/v1/audio/transcriptions"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    fields, files = form_of(sent)
    assert fields == {
        "model": ["whisper-1"],
        "response_format": ["verbose_json"],
        "prompt": ["Trains."],
        "language": ["de"],
        "timestamp_granularities[]": ["word", "segment"],
    }
    assert files["file"] == ("audio.mp3", "audio/mpeg", recording)


def test_a_translation_goes_to_translations_with_only_its_fields(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator, recording: bytes
) -> None:
    request = TranscriptionRequest(model="whisper-1", audio=recording, container="mp3", task="translate")
    transcript = provider.transcribe(request)

    assert transcript.text.startswith("Good evening and welcome")  # the emulator's translation paragraph
    assert transcript.language == "english"
    assert transcript.segments and transcript.words == ()
    (sent,) = posts(emu)
    assert sent.path == "/openai/v1/audio/translations"
    fields, _ = form_of(sent)
    assert fields == {"model": ["whisper-1"], "response_format": ["verbose_json"]}  # no language, no granularities


def test_a_json_only_model_is_asked_for_json_and_its_usage_is_the_duration(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator, recording: bytes
) -> None:
    transcript = provider.transcribe(TranscriptionRequest(model="gpt-4o-transcribe", audio=recording, container="mp3"))

    assert len(transcript.text.split()) == WORDS
    assert (transcript.segments, transcript.words, transcript.language) == ((), (), None)
    assert transcript.duration == SECONDS  # usage {"type": "duration", "seconds": 9}
    fields, _ = form_of(posts(emu)[0])
    assert fields == {"model": ["gpt-4o-transcribe"], "response_format": ["json"]}


@pytest.mark.parametrize("container", ["webm", "ogg", "m4a", "wav", "flac"])
def test_every_container_openai_takes_goes_as_it_is(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator, container: str
) -> None:
    audio = make_audio(container, 4.0)
    sniffed = "mp4" if container == "m4a" else container  # audio/codec.py's name for the MPEG-4 family
    assert provider.accepts_container("whisper-1", sniffed)

    transcript = provider.transcribe(TranscriptionRequest(model="whisper-1", audio=audio, container=sniffed))

    assert len(transcript.text.split()) == 10
    _, files = form_of(posts(emu)[0])
    assert files["file"][0] == f"audio.{sniffed}" and files["file"][2] == audio


def test_raw_aac_is_left_to_the_family_to_transcode(provider: OpenAICompatibleProvider) -> None:
    assert not provider.accepts_container("whisper-1", "aac")  # not among OpenAI's formats
    assert provider.translates("whisper-1")


def test_undecodable_audio_is_the_upstreams_bad_request(provider: OpenAICompatibleProvider) -> None:
    with pytest.raises(ProviderError) as raised:
        provider.transcribe(TranscriptionRequest(model="whisper-1", audio=b"not audio at all" * 64, container="mp3"))
    assert raised.value.kind == "bad_request"
    assert raised.value.upstream_status == 400
    assert "Invalid file format" in raised.value.message


# --- text to speech ------------------------------------------------------------------------------


def test_speech_is_mp3_that_decodes_to_the_spoken_length(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    text = "one two three four five"
    audio = provider.speak(SpeechRequest(model="tts-1", text=text, voice="nova"))
    data = b"".join(audio.chunks)

    with av.open(io.BytesIO(data)) as container:
        assert container.format.name == "mp3"
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert samples / rate == pytest.approx(0.4 * len(text.split()), abs=0.15)
    (sent,) = posts(emu)
    assert sent.path == "/openai/v1/audio/speech"
    assert sent.json == {"model": "tts-1", "input": text, "voice": "nova", "response_format": "mp3"}


def test_speech_closed_early_releases_the_upstream(provider: OpenAICompatibleProvider, emu: WorkersAIEmulator) -> None:
    emu.set_latency(per_chunk=0.5)  # the whole answer would take seconds
    audio = provider.speak(SpeechRequest(model="tts-1", text="word " * 40, voice="alloy"))
    assert next(audio.chunks)
    closed = time.monotonic()
    audio.close()

    deadline = closed + 5
    while emu.cut_streams < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (emu.cut_streams, emu.open_streams) == (1, 0)  # the emulator saw its client leave


def test_a_speech_refusal_raises_before_any_audio(provider: OpenAICompatibleProvider, emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=503, code=3040, message="Overloaded", model="tts-1")
    with pytest.raises(ProviderError) as raised:
        provider.speak(SpeechRequest(model="tts-1", text="hello", voice="alloy"))
    assert (raised.value.kind, raised.value.upstream_status) == ("upstream", 503)


# --- images --------------------------------------------------------------------------------------


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_dall_e_3_is_asked_for_b64_json_at_the_asked_size(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    image = provider.generate_image(ImageGenerationRequest(model="dall-e-3", prompt="a kite", width=1792, height=1024))

    assert picture(image.data).size == (1792, 1024)
    (sent,) = posts(emu)
    assert sent.path == "/openai/v1/images/generations"
    assert sent.json == {
        "model": "dall-e-3",
        "prompt": "a kite",
        "n": 1,
        "size": "1792x1024",
        "response_format": "b64_json",
    }


def test_a_size_the_model_lacks_is_asked_as_its_nearest_shape(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    image = provider.generate_image(ImageGenerationRequest(model="dall-e-2", prompt="a kite", width=1792, height=1024))

    assert picture(image.data).size == (1024, 1024)  # the family fits it to 1792x1024 afterwards
    assert posts(emu)[0].json["size"] == "1024x1024"


def test_gpt_image_answers_a_link_fetched_without_the_token(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    image = provider.generate_image(
        ImageGenerationRequest(model="gpt-image-1", prompt="a kite", width=1536, height=1024)
    )

    assert picture(image.data).size == (1536, 1024)
    post, fetch = emu.requests
    assert "response_format" not in post.json  # gpt-image models refuse it
    assert fetch.method == "GET" and fetch.path.startswith("/openai/v1/images/files/")
    assert "authorization" not in fetch.headers


def test_prompt_limits_follow_openais_models(provider: OpenAICompatibleProvider) -> None:
    limits = {name: provider.prompt_limit(name) for name in ("dall-e-2", "dall-e-3", "gpt-image-1", "sdxl-turbo")}
    assert limits == {"dall-e-2": 1000, "dall-e-3": 4000, "gpt-image-1": 32000, "sdxl-turbo": None}


def test_an_image_refusal_carries_the_upstreams_message(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    emu.inject_error(status=400, code=5006, message="Your prompt was rejected by the safety system.", model="dall-e-3")
    with pytest.raises(ProviderError) as raised:
        provider.generate_image(ImageGenerationRequest(model="dall-e-3", prompt="x", width=1024, height=1024))
    assert raised.value.kind == "bad_request"
    assert "rejected by the safety system" in raised.value.message


# --- moderation ----------------------------------------------------------------------------------


def flagged_in(categories: dict[str, bool]) -> set[str]:
    return {name for name, flagged in categories.items() if flagged}


def test_moderation_answers_the_upstreams_categories_and_scores(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    results, usage = provider.moderate(
        ModerationRequest("omni-moderation-latest", ("I am going to kill him", "a sunny day", "I hate all cats"))
    )

    violent, clean, hateful = results
    assert violent.flagged and not clean.flagged and hateful.flagged
    assert {name for name, flagged in violent.categories.items() if flagged} == {
        "violence",
        "illicit",
        "illicit/violent",
    }
    assert violent.category_scores["violence"] == 0.98 and violent.category_scores["hate"] == 0.0001
    assert flagged_in(hateful.categories) == {"hate"}
    assert violent.applied_input_types is not None and violent.applied_input_types["violence"] == ("text",)
    assert usage is None  # OpenAI's moderations report none
    (sent,) = posts(emu)
    assert sent.path == "/openai/v1/moderations"
    assert sent.json == {
        "model": "omni-moderation-latest",
        "input": ["I am going to kill him", "a sunny day", "I hate all cats"],
    }


def test_llama_guard_is_a_chat_model_not_a_moderation_model(provider: OpenAICompatibleProvider) -> None:
    assert isinstance(provider, ModerationProvider)
    assert provider.moderates("omni-moderation-latest") and provider.moderates("text-moderation-stable")
    assert not provider.moderates("meta-llama/Llama-Guard-3-8B")
    assert not provider.moderates("@cf/meta/llama-guard-3-8b")


def test_a_rate_limited_moderation_keeps_the_retry_after(
    provider: OpenAICompatibleProvider, emu: WorkersAIEmulator
) -> None:
    emu.inject_error(status=429, code=3040, message="Slow down", model="omni-moderation-latest", retry_after=7)
    with pytest.raises(ProviderError) as raised:
        provider.moderate(ModerationRequest("omni-moderation-latest", ("hello",)))
    assert (raised.value.kind, raised.value.retry_after) == ("rate_limited", 7)


def test_a_bad_token_is_an_auth_error(emu: WorkersAIEmulator) -> None:
    config = ProviderConfig(kind="openai_compatible", base_url=emu.openai_base_url, account_id="", api_token="wrong")
    with pytest.raises(ProviderError) as raised:
        OpenAICompatibleProvider(config).moderate(ModerationRequest("omni-moderation-latest", ("hello",)))
    assert raised.value.kind == "auth"
    assert "wrong" not in raised.value.message
