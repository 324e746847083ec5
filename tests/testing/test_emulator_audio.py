"""The Workers AI emulator over real HTTP: speech recognition (Whisper) and synthesis (MeloTTS,
Aura) with real audio, made and measured here with PyAV, independently of the emulator's code."""

from __future__ import annotations

import array
import base64
import io
import math
import re
import time
from fractions import Fraction
from typing import Any

import av
import pytest
import requests
from emulator_helpers import AUTH, assert_bad_input, emu_fixture, run  # noqa: F401

from gateway.testing.emulator import WorkersAIEmulator
from gateway.testing.emulator.speech import TRANSCRIPTION, TRANSLATION

WHISPER = "@cf/openai/whisper"
TINY = "@cf/openai/whisper-tiny-en"
TURBO = "@cf/openai/whisper-large-v3-turbo"
MELOTTS = "@cf/myshell-ai/melotts"
AURA_1 = "@cf/deepgram/aura-1"
AURA_2 = "@cf/deepgram/aura-2-en"
_TIMESTAMP = r"\d{2}:\d{2}:\d{2}\.\d{3}"

# --- helpers ---------------------------------------------------------------------------------------------


def make_audio(seconds: float, container: str = "wav", rate: int = 16000) -> bytes:
    """A 440 Hz mono tone of `seconds`, encoded by PyAV: "wav", "mp3", "ogg" (Opus) or "flac"."""
    codec = {"wav": "pcm_s16le", "mp3": "libmp3lame", "ogg": "libopus", "flac": "flac"}[container]
    count = round(seconds * rate)
    samples = array.array("h", (round(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count)))
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as file:
        stream = file.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            file.mux(packet)
    return out.getvalue()


def decoded(data: bytes, fmt: str | None = None, rate: int | None = None) -> tuple[float, str, int]:
    """(seconds, decoder name, sample rate) of `data`; raw formats need `fmt` and `rate`."""
    options = {"sample_rate": str(rate), "ch_layout": "mono"} if rate else {}
    with av.open(io.BytesIO(data), format=fmt, options=options) as file:
        stream = file.streams.audio[0]
        frames = list(file.decode(stream))
    return sum(f.samples for f in frames) / frames[0].sample_rate, stream.codec_context.name, frames[0].sample_rate


def post_raw(emu: WorkersAIEmulator, model: str, data: bytes) -> requests.Response:
    return requests.post(f"{emu.base_url}/accounts/test-account/ai/run/{model}", data=data, headers=AUTH, timeout=10)


def melotts(emu: WorkersAIEmulator, prompt: str, **extra: Any) -> bytes:
    return base64.b64decode(run(emu, MELOTTS, {"prompt": prompt, **extra}).json()["result"]["audio"])


def turbo(emu: WorkersAIEmulator, audio: bytes, **extra: Any) -> requests.Response:
    return run(emu, TURBO, {"audio": base64.b64encode(audio).decode("ascii"), **extra})


def assert_timed(words: list[dict[str, Any]], duration: float) -> None:
    assert len(words) == round(2.5 * duration)
    for word, following in zip(words, words[1:], strict=False):
        assert word["start"] < word["end"] <= following["start"]
    assert words[0]["start"] == 0.0 and duration * 0.85 <= words[-1]["end"] <= duration
    assert all(round(t, 2) == t for w in words for t in (w["start"], w["end"]))


def cues(vtt: str) -> list[tuple[str, str, str]]:
    assert vtt.startswith("WEBVTT\n\n")
    return re.findall(rf"({_TIMESTAMP}) --> ({_TIMESTAMP})\n(.+)\n\n", vtt)


def stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3600000:02d}:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


# --- Whisper ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("container", "seconds"), [("wav", 4.0), ("mp3", 6.0), ("ogg", 3.2), ("flac", 1.6)])
def test_whisper_times_its_words_over_the_real_duration(emu: WorkersAIEmulator, container: str, seconds: float) -> None:
    result = post_raw(emu, WHISPER, make_audio(seconds, container)).json()["result"]
    assert set(result) == {"text", "word_count", "words", "vtt"}
    assert_timed(result["words"], seconds)
    assert result["word_count"] == len(result["words"])
    assert [w["word"] for w in result["words"]] == TRANSCRIPTION[: result["word_count"]]
    assert result["text"] == " ".join(TRANSCRIPTION[: result["word_count"]])
    assert " ".join(text for _, _, text in cues(result["vtt"])) == result["text"]


def test_the_uint8_form_and_tiny_en_transcribe_like_the_raw_body(emu: WorkersAIEmulator) -> None:
    audio = make_audio(2.0)
    raw = post_raw(emu, WHISPER, audio).json()["result"]
    assert run(emu, WHISPER, {"audio": list(audio)}).json()["result"] == raw
    assert post_raw(emu, TINY, audio).json()["result"] == raw
    assert raw["word_count"] == 5


def test_short_audio_gives_at_least_one_word_above_a_fifth_of_a_second(emu: WorkersAIEmulator) -> None:
    assert post_raw(emu, WHISPER, make_audio(0.3)).json()["result"]["words"] == [
        {"word": "The", "start": 0.0, "end": 0.24}
    ]
    silence = post_raw(emu, WHISPER, make_audio(0.15)).json()["result"]
    assert silence == {"text": "", "word_count": 0, "words": [], "vtt": "WEBVTT\n\n"}


def test_turbo_makes_one_segment_per_sentence(emu: WorkersAIEmulator) -> None:
    result = turbo(emu, make_audio(12.0)).json()["result"]
    assert result["transcription_info"] == {
        "language": "en",
        "language_probability": 0.98,
        "duration": 12.0,
        "duration_after_vad": 12.0,
    }
    segments = result["segments"]
    words = [w for s in segments for w in s["words"]]
    assert_timed(words, 12.0)
    assert result["word_count"] == 30 and result["text"] == " ".join(TRANSCRIPTION[:30])
    for segment in segments[:-1]:
        assert segment["text"].endswith(".") and 8 <= len(segment["words"]) <= 12
    assert not segments[-1]["text"].endswith(".")  # 30 words end mid-sentence
    for segment in segments:
        assert segment["text"] == " ".join(w["word"] for w in segment["words"])
        assert (segment["start"], segment["end"]) == (segment["words"][0]["start"], segment["words"][-1]["end"])
        assert segment["temperature"] == 0.0 and segment["avg_logprob"] < 0 and 0 <= segment["no_speech_prob"] < 1
    assert cues(result["vtt"]) == [(stamp(s["start"]), stamp(s["end"]), s["text"]) for s in segments]


def test_turbo_translates_to_a_different_text_and_reports_the_language(emu: WorkersAIEmulator) -> None:
    audio = make_audio(4.4, "mp3")
    heard = turbo(emu, audio, task="transcribe").json()["result"]
    translated = turbo(emu, audio, task="translate", language="fr").json()["result"]
    assert translated["text"] == " ".join(TRANSLATION[:11]) and translated["text"].startswith("Good evening")
    assert heard["text"] == " ".join(TRANSCRIPTION[:11]) != translated["text"]
    assert translated["transcription_info"]["language"] == "fr"
    assert translated["transcription_info"]["language_probability"] == 1.0
    assert abs(translated["transcription_info"]["duration"] - 4.4) < 0.01


def test_turbo_starts_the_text_with_the_prefix(emu: WorkersAIEmulator) -> None:
    result = turbo(emu, make_audio(2.0), prefix="Well then", initial_prompt="A train journey.").json()["result"]
    assert result["text"] == "Well then The morning train"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (WHISPER, b"this is not audio at all, only some words"),
        (WHISPER, b""),
        (TINY, bytes(range(256)) * 8),
        (WHISPER, {"audio": [1, 2, 3, 4]}),
        (TURBO, {"audio": base64.b64encode(b"RIFF but not really a wave").decode()}),
        (TURBO, {"audio": base64.b64encode(make_audio(1.0, "mp3")[:40]).decode()}),  # cut before any sample
    ],
)
def test_audio_that_does_not_decode_is_3010(emu: WorkersAIEmulator, model: str, body: bytes | dict) -> None:
    response = run(emu, model, body) if isinstance(body, dict) else post_raw(emu, model, body)
    assert response.status_code == 400
    assert response.json() == {
        "result": {},
        "success": False,
        "errors": [{"code": 3010, "message": "Invalid or incomplete input for the model: could not decode the audio"}],
        "messages": [],
    }


def test_whisper_inputs_are_validated(emu: WorkersAIEmulator) -> None:
    audio = base64.b64encode(make_audio(1.0)).decode()
    assert_bad_input(run(emu, TURBO, {"audio": audio, "task": "summarise"}), "/task")
    assert_bad_input(run(emu, TURBO, {"audio": audio, "prefix": 3}), "/prefix")
    assert_bad_input(run(emu, TURBO, {"audio": audio, "temperature": 0}), "'temperature'")
    assert_bad_input(run(emu, TURBO, {"audio": audio, "no_speech_threshold": "high"}), "/no_speech_threshold")
    assert_bad_input(run(emu, WHISPER, {"audio": [0, 256]}), "/audio/1")


# --- MeloTTS ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "seconds"), [("one two three four five", 2.0), ("hi", 0.6)])
def test_melotts_answers_real_mp3_of_0_4_seconds_a_word(emu: WorkersAIEmulator, prompt: str, seconds: float) -> None:
    audio = melotts(emu, prompt, lang="en")
    assert audio[:3] == b"ID3"
    duration, codec, rate = decoded(audio)
    assert codec.startswith("mp3") and rate == 44100 and abs(duration - seconds) < 0.05


def test_melotts_answers_wav_when_switched_until_reset(emu: WorkersAIEmulator) -> None:
    emu.set_speech_container("wav")
    audio = melotts(emu, "bonjour tout le monde", lang="fr")
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    assert decoded(audio) == (1.6, "pcm_s16le", 44100)
    emu.reset()
    assert melotts(emu, "hello")[:3] == b"ID3"
    control = emu.base_url.removesuffix("/client/v4") + "/__emulator"
    assert requests.post(f"{control}/speech", json={"container": "wav"}, timeout=10).json() == {"ok": True}
    assert melotts(emu, "hello")[:4] == b"RIFF"
    refused = requests.post(f"{control}/speech", json={"container": "ogg"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["ok"] is False
    with pytest.raises(ValueError, match="mp3, wav"):
        emu.set_speech_container("flac")


def test_melotts_validates_its_input(emu: WorkersAIEmulator) -> None:
    assert_bad_input(run(emu, MELOTTS, {"prompt": "hallo", "lang": "de"}), "/lang", "en, es, fr, zh, jp, kr")
    assert_bad_input(run(emu, MELOTTS, {"prompt": ""}), "/prompt")
    assert_bad_input(run(emu, MELOTTS, {"prompt": "hi", "voice": "x"}), "'voice'")


# --- Aura ------------------------------------------------------------------------------------------------

# (extra input, Content-Type, leading bytes, raw format to decode with, decoder, sample rate)
AURA_OUTPUTS = [
    ({}, "audio/mpeg", b"\xff", None, "mp3", 22050),
    ({"encoding": "mp3", "bit_rate": 32000}, "audio/mpeg", b"\xff", None, "mp3", 22050),
    ({"encoding": "linear16"}, "audio/wav", b"RIFF", None, "pcm_s16le", 24000),
    (
        {"encoding": "linear16", "container": "none", "sample_rate": 16000},
        "application/octet-stream",
        b"",
        "s16le",
        "pcm_s16le",
        16000,
    ),
    ({"encoding": "mulaw", "container": "wav"}, "audio/wav", b"RIFF", None, "pcm_mulaw", 8000),
    ({"encoding": "mulaw", "container": "none"}, "application/octet-stream", b"", "mulaw", "pcm_mulaw", 8000),
    ({"encoding": "alaw", "sample_rate": 16000}, "audio/wav", b"RIFF", None, "pcm_alaw", 16000),
    ({"encoding": "flac"}, "audio/flac", b"fLaC", None, "flac", 48000),
    ({"encoding": "opus", "container": "ogg"}, "audio/ogg", b"OggS", None, "opus", 48000),
    ({"encoding": "aac", "bit_rate": 64000}, "audio/aac", b"\xff", None, "aac", 22050),
]


@pytest.mark.parametrize(("extra", "content_type", "magic", "raw_format", "codec", "rate"), AURA_OUTPUTS)
@pytest.mark.parametrize(("model", "speaker"), [(AURA_1, "orion"), (AURA_2, "thalia")])
def test_aura_answers_raw_audio_in_each_encoding(
    emu: WorkersAIEmulator,
    model: str,
    speaker: str,
    extra: dict[str, Any],
    content_type: str,
    magic: bytes,
    raw_format: str | None,
    codec: str,
    rate: int,
) -> None:
    response = run(emu, model, {"text": "The quick brown fox jumps.", "speaker": speaker, **extra}, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers
    audio = b"".join(response.iter_content(None))
    assert audio.startswith(magic) and not audio.startswith(b"{")  # the bytes themselves, no envelope
    if codec in ("mp3", "aac"):
        assert audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0  # a frame sync, no ID3 tag in front
    duration, decoder, decoded_rate = decoded(audio, raw_format, rate if raw_format else None)
    assert decoder.startswith(codec) and decoded_rate == rate
    # 5 words of 0.4 s; ADTS carries no encoder delay, so its AAC decodes ~0.1 s longer.
    assert abs(duration - 2.0) < (0.15 if codec == "aac" else 0.03)


def test_aura_sends_its_audio_in_chunks_paced_by_the_latency(emu: WorkersAIEmulator) -> None:
    emu.set_latency(per_chunk=0.1)
    started = time.monotonic()
    response = run(emu, AURA_2, {"text": " ".join(["word"] * 20), "encoding": "linear16"}, stream=True)
    arrivals = [(time.monotonic(), chunk) for chunk in response.iter_content(None)]
    assert len(arrivals) >= 4
    assert arrivals[-1][0] - started >= 0.1 * (len(arrivals) - 1)
    assert decoded(b"".join(chunk for _, chunk in arrivals))[0] == 8.0
    assert emu.open_streams == 0 and emu.cut_streams == 0


def test_aura_counts_a_client_that_leaves_early_as_a_cut_stream(emu: WorkersAIEmulator) -> None:
    emu.set_latency(per_chunk=0.2)
    response = run(emu, AURA_1, {"text": " ".join(["word"] * 20)}, stream=True)
    next(response.iter_content(1024))
    response.close()
    deadline = time.monotonic() + 5
    while emu.cut_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emu.cut_streams == 1 and emu.open_streams == 0


@pytest.mark.parametrize(
    ("model", "body", "needles"),
    [
        (AURA_1, {"text": "hi", "speaker": "thalia"}, ("/speaker", "angus")),
        (AURA_2, {"text": "hi", "speaker": "angus"}, ("/speaker", "luna")),
        (AURA_1, {"text": "hi", "encoding": "wav"}, ("/encoding",)),
        (AURA_1, {"text": "hi", "container": "mp4"}, ("/container",)),
        (AURA_1, {"text": "hi", "voice": "luna"}, ("'voice'",)),
        (AURA_2, {"text": ""}, ("/text",)),
        (AURA_2, {"speaker": "luna"}, ("'text'",)),
        (AURA_1, {"text": "hi", "sample_rate": "24000", "encoding": "linear16"}, ("/sample_rate", "string")),
        (AURA_1, {"text": "hi", "container": "wav"}, ("/container", "'mp3'")),
        (AURA_1, {"text": "hi", "encoding": "opus", "container": "none"}, ("/container", "'ogg'")),
        (AURA_1, {"text": "hi", "sample_rate": 24000}, ("/sample_rate", "not configurable")),
        (AURA_1, {"text": "hi", "encoding": "mulaw", "sample_rate": 24000}, ("/sample_rate", "8000, 16000")),
        (AURA_1, {"text": "hi", "bit_rate": 64000}, ("/bit_rate", "32000 or 48000")),
        (AURA_1, {"text": "hi", "encoding": "flac", "bit_rate": 64000}, ("/bit_rate", "not configurable")),
    ],
)
def test_aura_validates_its_input_strictly(
    emu: WorkersAIEmulator, model: str, body: dict[str, Any], needles: tuple[str, ...]
) -> None:
    assert_bad_input(run(emu, model, body), *needles)


# --- errors, latency, capture, catalogue -----------------------------------------------------------------


def test_injected_errors_and_latency_reach_the_speech_models(emu: WorkersAIEmulator) -> None:
    emu.inject_error(status=429, code=3040, message="busy", model=AURA_2)
    refused = run(emu, AURA_2, {"text": "hi"})
    assert refused.status_code == 429 and refused.headers["Content-Type"] == "application/json"
    assert refused.json()["errors"] == [{"code": 3040, "message": "busy"}]
    assert run(emu, AURA_2, {"text": "hi"}).headers["Content-Type"] == "audio/mpeg"
    emu.inject_error(status=500, code=3043, message="Internal", model=WHISPER)
    assert post_raw(emu, WHISPER, make_audio(1.0)).json()["errors"][0]["code"] == 3043
    emu.set_latency(first_byte=0.2)
    started = time.monotonic()
    post_raw(emu, WHISPER, make_audio(1.0))
    assert time.monotonic() - started >= 0.2


def test_binary_bodies_are_captured_as_received(emu: WorkersAIEmulator) -> None:
    audio = make_audio(1.0, "mp3")
    post_raw(emu, WHISPER, audio)
    captured = emu.last_request
    assert captured is not None and captured.model == WHISPER
    assert captured.body == audio and captured.json is None
    control = emu.base_url.removesuffix("/client/v4") + "/__emulator"
    listed = requests.get(f"{control}/requests", timeout=10).json()[-1]
    assert base64.b64decode(listed["body_base64"]) == audio and listed["body"] is None
    run(emu, AURA_1, {"text": "hi"})
    assert emu.last_request.json == {"text": "hi"}  # type: ignore[union-attr]
    assert requests.get(f"{control}/requests", timeout=10).json()[-1]["body_base64"] is None


def test_the_catalogue_lists_the_aura_models(emu: WorkersAIEmulator) -> None:
    found = requests.get(
        f"{emu.base_url}/accounts/test-account/ai/models/search",
        params={"task": "Text-to-Speech"},
        headers=AUTH,
        timeout=10,
    ).json()["result"]
    assert sorted(m["name"] for m in found) == [AURA_1, AURA_2, MELOTTS]
