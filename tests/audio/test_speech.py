"""POST /v1/audio/speech against the live gateway: real audio in every format, speed, voices and
languages as they reach the upstream, refusals, and the usage record with its price and budget.

Every answer is decoded back with PyAV and its samples counted. The emulator says each
whitespace-separated word of the input as 0.4 s of audio (at least 0.6 s in all:
gateway/testing/emulator/speech_audio.py), so the expected length is known from the input alone.
"""

from __future__ import annotations

import base64
import io
from decimal import Decimal
from typing import Any

import av
import pytest
import requests
from conftest import PERSISTENT, error_of, make_key, usage_records

from gateway.testing.emulator.speech import aura_audio, melotts_result

pytestmark = pytest.mark.django_db(transaction=True)

MELOTTS = "@cf/myshell-ai/melotts"
AURA_1 = "@cf/deepgram/aura-1"
AURA_2 = "@cf/deepgram/aura-2-en"
TEXT = "The quick brown fox jumps over the lazy dog"  # nine words: 3.6 s
PCM_RATE = 24000
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# Seconds a decoder may find beyond the words: encoder priming and padding the container does not declare.
TOLERANCE = {"mp3": 0.15, "opus": 0.25, "aac": 0.25, "flac": 0.15, "wav": 0.15, "pcm": 0.15}


def spoken_seconds(text: str) -> float:
    """The emulator's rule: 0.4 s a word, at least 0.6 s."""
    return max(0.4 * len(text.split()), 0.6)


def speak(url: str, key: str, **body: Any) -> requests.Response:
    payload = {"model": "tts-1", "input": TEXT, "voice": "alloy", **body}
    return requests.post(f"{url}/v1/audio/speech", json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def has_magic(response_format: str, data: bytes) -> bool:
    if response_format == "mp3":  # an ID3v2 tag, or straight into an MPEG audio frame's sync word
        return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    if response_format == "opus":  # the first Ogg page's first packet is the Opus identification header
        segments = data[26]
        return data[:4] == b"OggS" and data[27 + segments : 35 + segments] == b"OpusHead"
    if response_format == "aac":  # ADTS, MPEG-4 or MPEG-2, no CRC
        return data[:2] in (b"\xff\xf1", b"\xff\xf9")
    if response_format == "flac":
        return data[:4] == b"fLaC"
    if response_format == "wav":
        return data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    if response_format == "pcm":  # no header at all: whole 16-bit samples
        return len(data) % 2 == 0
    raise AssertionError(response_format)


def decoded(data: bytes, response_format: str = "") -> tuple[float, int]:
    """Seconds (samples counted) and sample rate of the first audio stream, as PyAV decodes it."""
    raw = {"format": "s16le", "options": {"sample_rate": str(PCM_RATE), "ch_layout": "mono"}}
    samples = rate = 0
    with av.open(io.BytesIO(data), **(raw if response_format == "pcm" else {})) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    assert rate, "nothing decoded"
    return samples / rate, rate


# --- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("response_format", [None, *MEDIA_TYPES])
def test_each_response_format_is_real_audio_of_the_spoken_length(openai_client, response_format: str | None) -> None:  # type: ignore[no-untyped-def]
    asked = {} if response_format is None else {"response_format": response_format}
    response_format = response_format or "mp3"  # OpenAI's default

    speech = openai_client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, **asked)

    assert speech.response.status_code == 200
    assert speech.response.headers["content-type"] == MEDIA_TYPES[response_format]
    data = speech.content
    assert has_magic(response_format, data), data[:64]
    seconds, rate = decoded(data, response_format)
    assert seconds == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE[response_format])
    if response_format in ("aac", "flac", "wav", "pcm"):  # re-encoded: OpenAI's 24 kHz
        assert rate == PCM_RATE
    if response_format == "pcm":  # 16-bit mono at 24 kHz: the length alone says the duration
        assert len(data) / (2 * PCM_RATE) == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE["pcm"])


# --- speed ----------------------------------------------------------------------------------------


def test_speed_changes_the_length_of_the_audio(routes, gateway_url: str, api_key: str) -> None:  # type: ignore[no-untyped-def]
    lengths = {}
    for speed in (1.0, 2.0, 0.5, 0.25, 4.0):
        answer = speak(gateway_url, api_key, response_format="wav", speed=speed)
        assert answer.status_code == 200, answer.text
        lengths[speed] = decoded(answer.content)[0]

    assert lengths[1.0] == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE["wav"])
    for speed in (2.0, 0.5, 0.25, 4.0):
        assert lengths[speed] == pytest.approx(lengths[1.0] / speed, rel=0.1), (speed, lengths)


@pytest.mark.parametrize("speed", [0.2, 4.1, "fast"])
def test_a_speed_out_of_range_is_a_400(routes, gateway_url: str, api_key: str, speed: object) -> None:  # type: ignore[no-untyped-def]
    error = error_of(speak(gateway_url, api_key, speed=speed), 400)

    assert error["param"] == "speed"
    assert usage_records(1)[0].status == 400
    assert routes.requests == []


# --- what the upstream answers ----------------------------------------------------------------------


def test_upstream_wav_is_recognised_by_its_magic_bytes(routes, gateway_url: str, api_key: str) -> None:  # type: ignore[no-untyped-def]
    routes.set_speech_container("wav")

    mp3 = speak(gateway_url, api_key, response_format="mp3")
    wav = speak(gateway_url, api_key, response_format="wav")

    assert mp3.status_code == 200 and mp3.headers["Content-Type"] == "audio/mpeg"
    assert has_magic("mp3", mp3.content) and not has_magic("wav", mp3.content)
    assert decoded(mp3.content)[0] == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE["mp3"])
    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/wav"
    assert has_magic("wav", wav.content)
    # Same container at speed 1: MeloTTS's own WAV, byte for byte.
    upstream_wav = melotts_result({"prompt": TEXT}, container="wav")["audio"]
    assert wav.content == base64.b64decode(upstream_wav)


@pytest.mark.parametrize(
    ("model", "voice", "speaker"),
    [(AURA_1, "onyx", "zeus"), (AURA_2, "coral", "cora"), (AURA_1, "alloy", "asteria"), (AURA_2, "fable", "draco")],
)
def test_aura_hears_the_voice_as_its_speaker(openai_client, routes, model: str, voice: str, speaker: str) -> None:  # type: ignore[no-untyped-def]
    speech = openai_client.audio.speech.create(model=model, voice=voice, input=TEXT)

    assert routes.last_request.model == model
    assert routes.last_request.json == {"text": TEXT, "speaker": speaker}
    # mp3 from an mp3 upstream at speed 1 passes through: Aura's bytes unchanged (a frame sync, no ID3 tag).
    assert speech.content == aura_audio({"text": TEXT, "speaker": speaker})[0]
    assert speech.content[:3] != b"ID3" and has_magic("mp3", speech.content)
    assert decoded(speech.content)[0] == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE["mp3"])


def test_aura_audio_becomes_ogg_opus(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    speech = openai_client.audio.speech.create(model=AURA_1, voice="nova", input=TEXT, response_format="opus")

    assert speech.response.headers["content-type"] == "audio/ogg"
    assert has_magic("opus", speech.content), speech.content[:64]
    assert decoded(speech.content)[0] == pytest.approx(spoken_seconds(TEXT), abs=TOLERANCE["opus"])
    assert routes.last_request.json == {"text": TEXT, "speaker": "stella"}


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("こんにちは、元気ですか", "jp"),  # kana with Han: Japanese
        ("カタカナ だけ", "jp"),
        ("안녕하세요 여러분", "kr"),
        ("你好 世界", "zh"),
        ("Hello there, how are you?", "en"),
        ("¿Dónde está la biblioteca, señor?", "en"),  # Latin script reads as English
        ("123 456", "en"),  # no letters at all
        ("ｺﾝﾆﾁﾊ ｾｶｲ", "jp"),  # halfwidth katakana
        ("ﾡﾢﾣ", "kr"),  # halfwidth Hangul
    ],
)
def test_melotts_speaks_the_language_of_the_script(openai_client, routes, text: str, lang: str) -> None:  # type: ignore[no-untyped-def]
    speech = openai_client.audio.speech.create(model="tts-1-hd", voice="shimmer", input=text)

    assert routes.last_request.model == MELOTTS
    assert routes.last_request.json == {"prompt": text, "lang": lang}
    assert decoded(speech.content)[0] == pytest.approx(spoken_seconds(text), abs=TOLERANCE["mp3"])


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"voice": "bob"}, 400, "voice", None),
        ({"voice": {"id": "alloy"}}, 400, "voice", None),
        ({"voice": None}, 400, "voice", None),
        ({"input": ""}, 400, "input", None),
        ({"input": " \n\t "}, 400, "input", None),
        ({"input": "a" * 4097}, 400, "input", "string_above_max_length"),
        ({"response_format": "ogg"}, 400, "response_format", None),
        ({"stream_format": "sse"}, 400, "stream_format", None),
        ({"model": None}, 400, "model", None),
        ({"model": "tts-no-such-model"}, 404, "model", "model_not_found"),
        ({"model": "gpt-4"}, 400, "model", "model_not_supported"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else None,
)
def test_a_bad_request_is_an_envelope_and_one_record(  # type: ignore[no-untyped-def]
    routes, gateway_url: str, api_key: str, body: dict[str, Any], status: int, param: str, code: str | None
) -> None:
    payload = {"model": "tts-1", "input": TEXT, "voice": "alloy", **body}
    payload = {name: value for name, value in payload.items() if value is not None}  # None: the field is missing
    answer = requests.post(
        f"{gateway_url}/v1/audio/speech", json=payload, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )

    error = error_of(answer, status)
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    (record,) = usage_records(1)
    assert (record.status, record.endpoint) == (status, "audio.speech")
    assert routes.requests == []  # refused before any upstream call


def test_stream_format_audio_and_instructions_are_accepted(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    speech = openai_client.audio.speech.create(
        model="tts-1", voice="sage", input=TEXT, stream_format="audio", instructions="Speak slowly."
    )

    assert speech.response.headers["content-type"] == "audio/mpeg" and has_magic("mp3", speech.content)
    assert routes.last_request.json == {"prompt": TEXT, "lang": "en"}  # Workers AI has no instructions


def test_4096_characters_are_spoken(routes, gateway_url: str, api_key: str) -> None:  # type: ignore[no-untyped-def]
    answer = speak(gateway_url, api_key, input="a" * 4096)

    assert answer.status_code == 200, answer.text
    assert has_magic("mp3", answer.content)
    assert usage_records(1, status=200)[0].characters == 4096


@pytest.mark.parametrize(
    ("upstream_status", "upstream_code", "status", "code"),
    [(429, 3040, 429, "upstream_rate_limited"), (400, 5006, 400, "upstream_bad_request")],
)
def test_an_upstream_refusal_is_an_envelope(  # type: ignore[no-untyped-def]
    routes, gateway_url: str, api_key: str, upstream_status: int, upstream_code: int, status: int, code: str
) -> None:
    routes.inject_error(
        status=upstream_status, code=upstream_code, message="AiError: refused", model=MELOTTS, times=PERSISTENT
    )

    answer = speak(gateway_url, api_key)

    error = error_of(answer, status)
    assert error["code"] == code
    if status == 429:
        assert int(answer.headers["Retry-After"]) >= 1
    (record,) = usage_records(1)
    assert (record.status, record.endpoint, record.error_code) == (status, "audio.speech", code)
    retried = status == 429  # capacity is worth one more attempt after a backoff; a bad input is not
    assert [request.model for request in routes.requests] == [MELOTTS] * (2 if retried else 1)
    assert record.attempts == (2 if retried else 1)


# --- usage, cost and budget -------------------------------------------------------------------------


def set_character_price(usd_per_million: str) -> None:
    from gateway.models import Price

    # Saved through the ORM: post_save drops the cached price table (gateway/signals.py).
    Price.objects.update_or_create(upstream_model=MELOTTS, defaults={"usd_per_m_characters": Decimal(usd_per_million)})


def set_character_price_blank() -> None:
    from gateway.models import Price

    price = Price.objects.get(upstream_model=MELOTTS)
    price.usd_per_m_characters = None
    price.save()


def test_a_request_is_recorded_by_its_characters(routes, gateway_url: str, api_key: str) -> None:  # type: ignore[no-untyped-def]
    set_character_price("15")
    text = "Ünïcode counts characters, not bytes: 日本"

    assert speak(gateway_url, api_key, input=text).status_code == 200

    (record,) = usage_records(1)
    assert record.endpoint == "audio.speech"
    assert (record.status, record.public_model, record.upstream_model) == (200, "tts-1", MELOTTS)
    assert record.characters == len(text) != len(text.encode())
    assert record.audio_seconds == 0
    assert (record.prompt_tokens, record.completion_tokens) == (0, 0)
    assert record.streamed and not record.client_disconnected
    assert record.cost_usd == Decimal(len(text)) * 15 / Decimal(1_000_000)


def test_characters_without_a_price_cost_an_unknown_amount(routes, gateway_url: str, api_key: str) -> None:  # type: ignore[no-untyped-def]
    set_character_price("15")
    assert speak(gateway_url, api_key).status_code == 200
    # The ledger writer prices a record when it writes it: the first is in before the price goes.
    assert usage_records(1)[0].cost_usd == Decimal(len(TEXT)) * 15 / Decimal(1_000_000)
    set_character_price_blank()

    assert speak(gateway_url, api_key).status_code == 200

    assert usage_records(2)[-1].cost_usd is None  # unknown, not free


def test_a_cost_budget_refuses_input_it_cannot_pay_for(routes, gateway_url: str) -> None:  # type: ignore[no-untyped-def]
    set_character_price("15")  # $0.000015 a character
    key = make_key("speech-budget", quota_usd=Decimal("0.001"))  # 66 characters

    refused = speak(gateway_url, key, input="x" * 100)

    error = error_of(refused, 429)
    assert error["code"] == "insufficient_quota"
    (record,) = usage_records(1)
    assert (record.status, record.endpoint, record.characters) == (429, "audio.speech", 0)
    assert routes.requests == []  # refused before the upstream was asked

    assert speak(gateway_url, key, input="x" * 60).status_code == 200  # what fits is served
    assert usage_records(2)[-1].cost_usd == Decimal(60) * 15 / Decimal(1_000_000)
    assert len(routes.requests) == 1
