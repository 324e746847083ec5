"""POST /v1/audio/transcriptions through the official SDK, on real audio files (tests/audio_files.py).

The emulator's whisper transcribes by a documented rule (gateway/testing/emulator/speech.py): 2.5
words a second of the real audio, one turbo segment per sentence, words in equal slots. So every
timing checked here traces back to the length of the file the test made.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests
from audio_files import make_audio
from conftest import usage_records

from audio.codec import sniff

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 9.0  # long enough for several sentences (segments, srt cues)
_SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)")
_VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+)")


def seconds_of(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def srt_cues(text: str) -> list[tuple[int, float, float, str]]:
    blocks = text.strip().split("\n\n")
    cues = []
    for block in blocks:
        match = _SRT_CUE.fullmatch(block)
        assert match, block
        groups = match.groups()
        cues.append((int(groups[0]), seconds_of(*groups[1:5]), seconds_of(*groups[5:9]), groups[9]))
    return cues


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for block in text[len("WEBVTT\n\n") :].strip().split("\n\n"):
        match = _VTT_CUE.fullmatch(block)
        assert match, block
        groups = match.groups()
        cues.append((seconds_of(*groups[0:4]), seconds_of(*groups[4:8]), groups[8]))
    return cues


def assert_increasing(cues: list[tuple[float, float]], duration: float) -> None:
    previous_end = 0.0
    for start, end in cues:
        assert previous_end <= start < end <= duration + 0.01, cues
        previous_end = end


def test_json_carries_the_text_and_the_audio_seconds(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.transcriptions.create(model="whisper-1", file=("talk.mp3", make_audio("mp3", 4.0)))

    assert result.text.startswith("The morning train left the station")
    assert len(result.text.split()) == 10  # 2.5 words a second of four seconds
    assert result.usage.type == "duration" and result.usage.seconds == 4
    sent = routes.last_request
    assert sent.model == "@cf/openai/whisper-large-v3-turbo"
    assert sent.json["task"] == "transcribe"
    assert sniff(base64.b64decode(sent.json["audio"])) == "mp3"


def test_text_is_the_bare_transcript(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("talk.wav", make_audio("wav", 2.0)), response_format="text"
    )

    assert text == "The morning train left the\n"


def test_srt_cues_are_numbered_with_comma_timestamps_that_increase(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("talk.flac", make_audio("flac", SECONDS)), response_format="srt"
    )

    cues = srt_cues(text)
    assert [number for number, *_ in cues] == list(range(1, len(cues) + 1))
    assert len(cues) >= 2  # one per sentence of the transcript
    assert_increasing([(start, end) for _, start, end, _ in cues], SECONDS)
    assert cues[-1][2] > SECONDS - 0.5  # the last word ends near the end of the audio
    assert " ".join(cue_text for *_, cue_text in cues).startswith("The morning train left the station")


def test_vtt_has_its_header_and_dot_timestamps(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("talk.ogg", make_audio("ogg", SECONDS)), response_format="vtt"
    )

    cues = vtt_cues(text)
    assert len(cues) >= 2
    assert_increasing([(start, end) for start, end, _ in cues], SECONDS)


def test_verbose_json_reports_language_duration_and_segments(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("talk.webm", make_audio("webm", SECONDS)), response_format="verbose_json"
    )

    assert result.language == "english"  # the full name, from the upstream's "en"
    assert result.duration == pytest.approx(SECONDS, abs=0.05)  # the upstream's measure of the real audio
    assert result.words is None  # not asked for
    segments = result.segments
    assert [segment.id for segment in segments] == list(range(len(segments)))
    assert_increasing([(segment.start, segment.end) for segment in segments], SECONDS)
    assert "".join(segment.text for segment in segments).strip() == result.text
    first = segments[0]
    assert first.seek == 0 and first.tokens == []
    assert (first.temperature, first.avg_logprob, first.compression_ratio, first.no_speech_prob) == (
        0.0,
        -0.18,
        1.35,
        0.01,
    )
    assert result.usage.seconds == 9


def test_word_and_segment_granularities(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    audio = make_audio("m4a", 4.0)
    words_only = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("talk.m4a", audio), response_format="verbose_json", timestamp_granularities=["word"]
    )
    both = openai_client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.m4a", audio),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )

    assert words_only.segments is None
    assert [word.word for word in words_only.words] == words_only.text.rstrip(".").replace(".", "").split()
    assert_increasing([(word.start, word.end) for word in words_only.words], 4.0 + 0.2)  # ADTS priming
    assert both.words == words_only.words
    assert both.segments and both.segments[0].start == both.words[0].start


def test_language_and_prompt_reach_whisper(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.mp3", make_audio("mp3", 2.0)),
        language="de",
        prompt="Glossary: Bahnhof.",
        response_format="verbose_json",
    )

    assert routes.last_request.json["language"] == "de"
    assert routes.last_request.json["initial_prompt"] == "Glossary: Bahnhof."
    assert result.language == "german"


def test_tiny_en_gets_the_file_itself_and_mp3_for_containers_it_cannot_read(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    wav = make_audio("wav", 3.0)
    openai_client.audio.transcriptions.create(model="whisper-tiny-en", file=("talk.wav", wav))
    as_is = routes.last_request
    result = openai_client.audio.transcriptions.create(
        model="whisper-tiny-en", file=("talk.webm", make_audio("webm", 3.0)), response_format="verbose_json"
    )
    transcoded = routes.last_request

    assert as_is.model == "@cf/openai/whisper-tiny-en" and as_is.body == wav  # raw bytes, not JSON
    assert as_is.headers["content-type"] == "application/octet-stream"
    assert transcoded.json is None and sniff(transcoded.body) == "mp3"
    # No segments upstream: cues are grouped from the words; the language of an English-only model.
    assert result.language == "english"
    assert result.duration == pytest.approx(3.0, abs=0.05)  # decoded here: tiny-en reports none
    assert result.segments and result.segments[0].temperature is None  # not reported, not invented
    assert " ".join(segment.text.strip() for segment in result.segments) == result.text


def test_tiny_en_srt_is_built_from_its_words(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    text = openai_client.audio.transcriptions.create(
        model="whisper-tiny-en", file=("talk.mp3", make_audio("mp3", SECONDS)), response_format="srt"
    )

    cues = srt_cues(text)
    assert len(cues) >= 2
    assert_increasing([(start, end) for _, start, end, _ in cues], SECONDS)


@pytest.mark.parametrize("container", ["mp3", "mpga", "wav", "flac", "ogg", "m4a", "mp4", "webm"])
def test_every_openai_container_is_transcribed(openai_client, routes, container: str) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.transcriptions.create(
        model="whisper-1", file=(f"talk.{container}", make_audio(container, 2.0)), response_format="verbose_json"
    )

    assert result.duration == pytest.approx(2.0, abs=0.15)
    assert result.text.startswith("The morning")


def test_raw_model_names_are_served(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    result = openai_client.audio.transcriptions.create(
        model="@cf/openai/whisper", file=("talk.mp3", make_audio("mp3", 2.0))
    )

    assert routes.last_request.model == "@cf/openai/whisper"
    assert result.text.startswith("The morning")


def test_the_usage_record_holds_the_audio_seconds_and_their_price(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from gateway.models import Price

    Price.objects.update_or_create(
        upstream_model="@cf/openai/whisper-large-v3-turbo", defaults={"usd_per_audio_minute": Decimal("0.006")}
    )
    openai_client.audio.transcriptions.create(model="whisper-1", file=("talk.mp3", make_audio("mp3", 30.0)))

    [record] = usage_records(1, endpoint="audio.transcriptions")
    assert record.status == 200 and record.public_model == "whisper-1"
    assert record.upstream_model == "@cf/openai/whisper-large-v3-turbo"
    assert record.audio_seconds == pytest.approx(30.0, abs=0.05)
    assert record.characters == 0 and record.prompt_tokens == 0
    assert record.cost_usd == pytest.approx(Decimal("0.003"), abs=Decimal("0.00001"))  # half a minute


def post(gateway_url: str, key: str, data: list[tuple[str, str]], audio: bytes) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/audio/transcriptions",
        files={"file": ("talk.mp3", audio)},
        data=data,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_json_on_the_wire_is_exactly_text_and_usage(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = post(gateway_url, api_key, [("model", "whisper-1")], make_audio("mp3", 2.0))

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.content) == {
        "text": "The morning train left the",
        "usage": {"type": "duration", "seconds": 2},
    }


def test_the_bracketed_granularity_field_is_read_once_per_value(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    fields = [("model", "whisper-1"), ("response_format", "verbose_json")]
    words = post(gateway_url, api_key, [*fields, ("timestamp_granularities[]", "word")], make_audio("mp3", 2.0))
    both = post(
        gateway_url,
        api_key,
        [*fields, ("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment")],
        make_audio("mp3", 2.0),
    )

    assert "words" in words.json() and "segments" not in words.json()
    assert "words" in both.json() and "segments" in both.json()
