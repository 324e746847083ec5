"""Audio on the generic base: transcriptions and translations (multipart uploads) answered with
whisper-large-v3-turbo's deterministic transcript (speech.py) whatever the model name, and speech
synthesised as the emulator's other speech models say it (speech_audio.py), in OpenAI's formats
(https://platform.openai.com/docs/api-reference/audio).

- transcriptions: the file decodes as Whisper's does (undecodable → 400 invalid_request_error);
  `language` and `prompt` reach turbo as `language` and `initial_prompt`. translations: turbo's
  task "translate" (its own English paragraph). response_format json ({text, usage}), text, srt,
  vtt (text/plain bodies) or verbose_json ({task, language as a full name, duration, text,
  segments, words when timestamp_granularities[] has "word"}); segments are turbo's sentences.
- speech: every word of `input` is a tone (speech_audio.speech_pcm) at 24 kHz mono, in mp3, opus
  (Ogg), aac (ADTS), flac, wav or pcm (raw 16-bit little-endian, no header); `speed` shortens or
  lengthens it by that factor; `instructions` is accepted and ignored. Chunked, as OpenAI streams it.
"""

from __future__ import annotations

import base64
import math
import zlib
from typing import Any

from .catalogue import find_model
from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, checked
from .openai_errors import bad_input
from .schema import check_enum, check_number, check_string
from .speech import whisper_result
from .speech_audio import UnreadableAudio, encode, speech_pcm

TURBO = "@cf/openai/whisper-large-v3-turbo"
TRANSCRIPTION_FIELDS = frozenset(
    {
        "model",
        "language",
        "prompt",
        "response_format",
        "temperature",
        "timestamp_granularities[]",
        "timestamp_granularities",
        "chunking_strategy",
        "include[]",
    }
)
TRANSLATION_FIELDS = frozenset({"model", "prompt", "response_format", "temperature"})
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TEXT_PLAIN = "text/plain; charset=utf-8"
UNREADABLE = (
    "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
)
LANGUAGE_NAMES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
    "uk": "ukrainian",
    "zh": "chinese",
}

SPEECH_FIELDS = frozenset({"model", "input", "voice", "response_format", "speed", "instructions", "stream_format"})
VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
SPEECH_RATE = 24000  # OpenAI's speech is 24 kHz (its pcm format is documented so)
MAX_SPEECH_INPUT = 4096
# response_format → FFmpeg muxer, encoder, Content-Type (None: the raw PCM itself).
SPEECH_FORMATS: dict[str, tuple[str, str, str] | None] = {
    "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
    "opus": ("ogg", "libopus", "audio/ogg"),
    "aac": ("adts", "aac", "audio/aac"),
    "flac": ("flac", "flac", "audio/flac"),
    "wav": ("wav", "pcm_s16le", "audio/wav"),
    "pcm": None,
}


def transcriptions(call: OpenAICall) -> ModelReply:
    return _transcribe(call, "transcribe", TRANSCRIPTION_FIELDS)


def translations(call: OpenAICall) -> ModelReply:
    return _transcribe(call, "translate", TRANSLATION_FIELDS)


def _transcribe(call: OpenAICall, task: str, fields: frozenset[str]) -> ModelReply:
    form = call.body
    check_fields(form, fields, ("model",))
    upload = call.files.get("file")
    if upload is None:
        raise bad_input("'file' is a required upload.", "file")
    with checked():
        check_enum(form, "response_format", "", RESPONSE_FORMATS)
        check_string(form, "language", "")
        check_string(form, "prompt", "")
    _temperature(form)
    turbo_input: dict[str, Any] = {"audio": base64.b64encode(upload.data).decode("ascii"), "task": task}
    if task == "transcribe" and form.get("language"):
        turbo_input["language"] = form["language"]
    if form.get("prompt"):
        turbo_input["initial_prompt"] = form["prompt"]
    turbo = find_model(TURBO)
    assert turbo is not None
    try:
        result = whisper_result(turbo, turbo_input, b"") if upload.data else None
    except UnreadableAudio:
        result = None
    if result is None:
        raise bad_input(UNREADABLE, "file")
    return _rendered(result, task, form)


def _temperature(form: dict[str, Any]) -> None:
    if "temperature" not in form:
        return
    try:
        value = float(form["temperature"])
    except ValueError:
        raise bad_input("'temperature' must be a number.", "temperature") from None
    if not 0 <= value <= 1:
        raise bad_input("'temperature' must be between 0 and 1.", "temperature")


def _granularities(form: dict[str, Any]) -> set[str]:
    raw = form.get("timestamp_granularities[]", form.get("timestamp_granularities", []))
    values = set(raw if isinstance(raw, list) else [raw])
    if not values <= {"word", "segment"}:
        raise bad_input("timestamp_granularities[] takes word and segment.", "timestamp_granularities")
    return values or {"segment"}


def _rendered(result: dict[str, Any], task: str, form: dict[str, Any]) -> ModelReply:
    info = result["transcription_info"]
    duration = info["duration"]
    text = result["text"]
    fmt = form.get("response_format", "json")
    if fmt == "text":
        return _plain(text + "\n")
    if fmt == "vtt":
        return _plain(result["vtt"])
    if fmt == "srt":
        return _plain(_srt(result["segments"]))
    used = {"type": "duration", "seconds": math.ceil(duration)}
    if fmt == "json":
        return ModelReply(result={"text": text, "usage": used})
    language = "english" if task == "translate" else LANGUAGE_NAMES.get(info["language"], info["language"])
    payload: dict[str, Any] = {
        "task": task,
        "language": language,
        "duration": duration,
        "text": text,
    }
    granularities = _granularities(form)
    if "segment" in granularities:
        payload["segments"] = [_segment(i, segment) for i, segment in enumerate(result["segments"])]
    if "word" in granularities:
        payload["words"] = [word for segment in result["segments"] for word in segment["words"]]
    payload["usage"] = used
    return ModelReply(result=payload)


def _plain(text: str) -> ModelReply:
    # `image` is ModelReply's "these bytes, whole" field; here they are text.
    return ModelReply(image=text.encode("utf-8"), content_type=TEXT_PLAIN)


def _segment(index: int, segment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": index,
        # Whisper decodes 30 s windows; seek is the window's offset in 10 ms frames.
        "seek": int(segment["start"] // 30) * 3000,
        "start": segment["start"],
        "end": segment["end"],
        "text": " " + segment["text"],
        # Stand-in token ids, stable per word (the emulator has no tokenizer).
        "tokens": [zlib.crc32(w["word"].encode()) % 50257 for w in segment["words"]],
        "temperature": segment["temperature"],
        "avg_logprob": segment["avg_logprob"],
        "compression_ratio": segment["compression_ratio"],
        "no_speech_prob": segment["no_speech_prob"],
    }


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def _srt(segments: list[dict[str, Any]]) -> str:
    return "".join(
        f"{i}\n{_srt_time(s['start'])} --> {_srt_time(s['end'])}\n{s['text']}\n\n" for i, s in enumerate(segments, 1)
    )


def speech(call: OpenAICall) -> ModelReply:
    body = call.body
    check_fields(body, SPEECH_FIELDS, ("model", "input", "voice"))
    with checked():
        check_string(body, "input", "", min_length=1, max_length=MAX_SPEECH_INPUT)
        check_string(body, "voice", "")
        check_enum(body, "voice", "", VOICES)
        check_enum(body, "response_format", "", tuple(SPEECH_FORMATS))
        check_number(body, "speed", "", 0.25, 4.0)
        check_string(body, "instructions", "")
        check_enum(body, "stream_format", "", ("audio",))
    words = body["input"].split() or [body["input"]]
    # Said at a rate `speed` times lower, played at 24 kHz: `speed` times shorter (or longer).
    pcm = speech_pcm(words, round(SPEECH_RATE / body.get("speed", 1.0)))
    output = SPEECH_FORMATS[body.get("response_format", "mp3")]
    if output is None:
        return ModelReply(audio=pcm, content_type="audio/pcm")
    muxer, codec, content_type = output
    return ModelReply(audio=encode(pcm, SPEECH_RATE, muxer, codec), content_type=content_type)
