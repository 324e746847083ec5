"""POST /v1/audio/transcriptions, /v1/audio/translations and /v1/audio/speech in the OpenAPI document.

The forms and the JSON body as audio/request.py reads them, the answers as audio/render.py and
audio/codec.py make them (https://platform.openai.com/docs/api-reference/audio).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema

from audio.request import GRANULARITIES, MAX_SPEECH_CHARACTERS, TRANSCRIPT_FORMATS, VOICES
from gateway.http.openapi import (
    INTEGER,
    MODEL,
    NUMBER,
    STRING,
    Schema,
    answers,
    component,
    example,
    json_body,
    nullable,
    refusals,
)

# audio/codec.py's SPEECH_MEDIA_TYPES, spelled out: importing the codec loads FFmpeg (audio/lazy_codec.py).
SPEECH_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

_FILE = {
    "type": "string",
    "contentMediaType": "application/octet-stream",
    "description": "The recording: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav or webm. Bytes that do "
    "not decode as audio are a 400 `invalid_audio`; too long a recording a 400 `audio_too_long`.",
}
_FORM_FIELDS: Schema = {
    "file": _FILE,
    "model": MODEL,
    "prompt": {"type": "string", "description": "Accepted; Workers AI's whisper models take a prompt."},
    "response_format": {"enum": list(TRANSCRIPT_FORMATS), "description": "json by default."},
    "temperature": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "Accepted and ignored (the upstream models take none).",
    },
    "timestamp_granularities[]": {
        "type": "array",
        "items": {"enum": list(GRANULARITIES)},
        "description": "With verbose_json: `segments` (the default), `words`, or both.",
    },
}
TRANSCRIPTION_REQUEST = component(
    "CreateTranscriptionRequest",
    {
        "type": "object",
        "required": ["file", "model"],
        "properties": {
            **_FORM_FIELDS,
            "language": {"type": "string", "description": "The ISO-639-1 code of the speech (e.g. `en`)."},
        },
    },
)
TRANSLATION_REQUEST = component(
    "CreateTranslationRequest",
    {"type": "object", "required": ["file", "model"], "properties": _FORM_FIELDS},
)

_USAGE = {
    "type": "object",
    "required": ["type", "seconds"],
    "properties": {"type": {"const": "duration"}, "seconds": {"type": "integer", "minimum": 0}},
    "description": "The audio billed, in whole seconds rounded up.",
}
_TRANSCRIPT = {
    "type": "object",
    "required": ["text", "usage"],
    "properties": {"text": STRING, "usage": _USAGE},
    "description": "response_format json.",
}
_SEGMENT = {
    "type": "object",
    "required": ["id", "seek", "start", "end", "text", "tokens"],
    "properties": {
        "id": INTEGER,
        "seek": INTEGER,
        "start": NUMBER,
        "end": NUMBER,
        "text": STRING,
        "tokens": {"type": "array", "items": INTEGER},
        "temperature": nullable(NUMBER),
        "avg_logprob": nullable(NUMBER),
        "compression_ratio": nullable(NUMBER),
        "no_speech_prob": nullable(NUMBER),
    },
}
_WORD = {
    "type": "object",
    "required": ["word", "start", "end"],
    "properties": {"word": STRING, "start": NUMBER, "end": NUMBER},
}
_VERBOSE = {
    "type": "object",
    "required": ["task", "language", "duration", "text", "usage"],
    "properties": {
        "task": {"enum": ["transcribe", "translate"]},
        "language": nullable({"type": "string", "description": "The language's English name, null if unknown."}),
        "duration": NUMBER,
        "text": STRING,
        "segments": {"type": "array", "items": _SEGMENT},
        "words": {"type": "array", "items": _WORD},
        "usage": _USAGE,
    },
    "description": "response_format verbose_json.",
}
TRANSCRIPTION = component("CreateTranscriptionResponse", {"anyOf": [_TRANSCRIPT, _VERBOSE]})


def _transcript_answers(what: str) -> dict[Any, Any]:
    """One 200, its media type by response_format (drf-spectacular keeps one description per status)."""
    text = {"type": "string"}
    description = f"The {what}: json and verbose_json as JSON, text and srt (SubRip) as text/plain, vtt as text/vtt."
    return {
        **answers(TRANSCRIPTION, description, 403, 404),
        (200, "text/plain"): OpenApiResponse(text, description=description),
        (200, "text/vtt"): OpenApiResponse(text, description=description),
    }


def _form_example(model: str) -> OpenApiExample:
    value = {"file": "(the recording's bytes)", "model": model, "response_format": "json"}
    return OpenApiExample("A recording", value=value, request_only=True, media_type="multipart/form-data")


CREATE_TRANSCRIPTION = extend_schema(
    operation_id="createTranscription",
    summary="Transcribe audio into the input language",
    request={"multipart/form-data": TRANSCRIPTION_REQUEST},
    responses=_transcript_answers("transcript"),
    examples=[_form_example("whisper-1")],
)
CREATE_TRANSLATION = extend_schema(
    operation_id="createTranslation",
    summary="Translate audio into English",
    request={"multipart/form-data": TRANSLATION_REQUEST},
    responses=_transcript_answers("English translation"),
    examples=[_form_example("whisper-1")],
)

SPEECH_REQUEST = component(
    "CreateSpeechRequest",
    {
        "type": "object",
        "required": ["model", "input", "voice"],
        "properties": {
            "model": MODEL,
            "input": {"type": "string", "minLength": 1, "maxLength": MAX_SPEECH_CHARACTERS, "pattern": r"\S"},
            "voice": {"enum": list(VOICES)},
            "response_format": nullable({"enum": list(SPEECH_MEDIA_TYPES), "description": "mp3 by default."}),
            "speed": nullable({"type": "number", "minimum": 0.25, "maximum": 4}),
            "instructions": nullable({"type": "string", "description": "Accepted and ignored."}),
            "stream_format": nullable(
                {"const": "audio", "description": "The audio is sent as it is encoded; `sse` is not supported."}
            ),
        },
    },
)


_SPEECH_DESCRIPTION = (
    "The speech in the asked response_format, sent as it is encoded: mp3 (the default) audio/mpeg, opus "
    "(Opus in Ogg) audio/ogg, aac (ADTS) audio/aac, flac audio/flac, wav audio/wav, pcm (raw 24 kHz signed "
    "16-bit little-endian mono samples, no header) audio/pcm."
)
_SPEECH_ANSWERS = {
    (200, media_type): OpenApiResponse(
        {"type": "string", "contentMediaType": media_type}, description=_SPEECH_DESCRIPTION
    )
    for media_type in SPEECH_MEDIA_TYPES.values()
}
CREATE_SPEECH = extend_schema(
    operation_id="createSpeech",
    summary="Generate audio from text",
    request=json_body(SPEECH_REQUEST),
    responses={**_SPEECH_ANSWERS, **refusals(403, 404)},
    examples=[example("A sentence", {"model": "tts-1", "input": "Hello there!", "voice": "alloy"})],
)
