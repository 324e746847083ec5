"""The bodies of the audio endpoints, validated into typed requests.

Fields are those of https://platform.openai.com/docs/api-reference/audio: transcriptions and
translations are multipart forms around the uploaded `file` (whose bytes are decoded here, so
an unreadable or over-long recording is refused before admission, and its measured length is
the request's demand); speech is a JSON body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from audio.languages import language_code
from audio.lazy_codec import codec
from gateway.accounting.entry import Demand
from gateway.catalog.routes import RouteTarget
from gateway.errors import GatewayError, invalid
from gateway.http.request_fields import check_model_name, parse_model, parse_number

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("word", "segment")
# https://platform.openai.com/docs/api-reference/audio/createSpeech
VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
MAX_SPEECH_CHARACTERS = 4096


@dataclass(frozen=True)
class TranscriptionBody:
    model: str
    audio: bytes
    info: codec.AudioInfo  # container, codec and decoded length of the upload
    task: str = "transcribe"  # or "translate" (POST /v1/audio/translations)
    language: str | None = None  # ISO-639-1
    prompt: str | None = None
    temperature: float | None = None  # accepted; Workers AI's whisper models take none
    response_format: str = "json"
    granularities: frozenset[str] = frozenset()

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(audio_seconds=self.info.duration)


@dataclass(frozen=True)
class SpeechBody:
    model: str
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(characters=len(self.input))


def _form_text(data: Any, name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a text field.", param=name)
    return value


def _form_number(data: Any, name: str, low: float, high: float) -> float | None:
    raw = _form_text(data, name)
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise invalid(f"'{name}' must be a number; got {raw!r}.", param=name) from None
    return parse_number({name: number}, name, low, high)


def _granularities(data: Any) -> frozenset[str]:
    """The SDKs send `timestamp_granularities[]` once per value; the bare name is taken too."""
    values: list[str] = []
    for name in ("timestamp_granularities[]", "timestamp_granularities"):
        values += [value for value in data.getlist(name) if isinstance(value, str)]
    for value in values:
        if value not in GRANULARITIES:
            raise invalid(
                f"'timestamp_granularities[]' values must be 'word' or 'segment'; got {value!r}.",
                param="timestamp_granularities[]",
            )
    return frozenset(values)


def _upload(data: Any) -> tuple[bytes, codec.AudioInfo]:
    upload = data.get("file")
    if not isinstance(upload, UploadedFile):
        raise invalid("You must upload the audio as a 'file' field of a multipart form.", param="file")
    limit = settings.GATEWAY_AUDIO_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise GatewayError(
            413, f"'file' is {upload.size} bytes; audio uploads may have at most {limit}.", param="file",
            code="file_too_large",
        )  # fmt: skip
    audio = upload.read()
    if not audio:
        raise invalid("'file' is empty.", param="file", code="empty_file")
    try:
        info = codec.inspect(audio, max_seconds=settings.GATEWAY_AUDIO_MAX_SECONDS)
    except codec.AudioTooLong as exc:
        raise invalid(
            f"'file' holds more than {exc.limit:g} seconds of audio; this gateway transcribes at most "
            f"{exc.limit:g} seconds per request.",
            param="file",
            code="audio_too_long",
        ) from None
    except codec.AudioError as exc:
        raise invalid(
            f"'file' ({upload.name or 'unnamed'}) is not audio this gateway can read: {exc} "
            "Supported formats: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm.",
            param="file",
            code="invalid_audio",
        ) from None
    return audio, info


def parse_transcription(data: Any, *, task: str) -> TranscriptionBody:
    """A transcription (task "transcribe") or translation ("translate") form."""
    if not hasattr(data, "getlist"):  # a JSON body: these endpoints take a multipart upload only
        raise invalid("Send the audio as multipart/form-data with a 'file' field.", param="file")
    model = _form_text(data, "model")
    if model is None:
        raise invalid("You must provide a model parameter.", param="model")
    check_model_name(model)
    response_format = _form_text(data, "response_format") or "json"
    if response_format not in TRANSCRIPT_FORMATS:
        raise invalid(
            f"'response_format' must be one of {', '.join(TRANSCRIPT_FORMATS)}; got {response_format!r}.",
            param="response_format",
        )
    language = None
    raw_language = _form_text(data, "language") if task == "transcribe" else None
    if raw_language is not None:
        language = language_code(raw_language)
        if language is None:
            raise invalid(
                f"'language' must be an ISO-639-1 code of a language whisper knows (e.g. 'en'); got {raw_language!r}.",
                param="language",
            )
    granularities = _granularities(data)
    temperature = _form_number(data, "temperature", 0, 1)
    prompt = _form_text(data, "prompt")
    audio, info = _upload(data)
    return TranscriptionBody(
        model=model,
        audio=audio,
        info=info,
        task=task,
        language=language,
        prompt=prompt,
        temperature=temperature,
        response_format=response_format,
        granularities=granularities,
    )


def parse_speech(data: Any) -> SpeechBody:
    model = parse_model(data)
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise invalid("You must provide the text to speak as a non-empty string 'input'.", param="input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise invalid(
            f"'input' is {len(text)} characters long; at most {MAX_SPEECH_CHARACTERS} can be spoken per request.",
            param="input",
            code="string_above_max_length",
        )
    voice = data.get("voice")
    if not isinstance(voice, str) or voice not in VOICES:
        shown = voice if isinstance(voice, str) else type(voice).__name__
        raise invalid(f"'voice' must be one of {', '.join(VOICES)}; got {shown!r}.", param="voice")
    response_format = data.get("response_format")
    if response_format is None:
        response_format = "mp3"
    if response_format not in codec.SPEECH_FORMATS:
        raise invalid(
            f"'response_format' must be one of {', '.join(codec.SPEECH_FORMATS)}; got {response_format!r}.",
            param="response_format",
        )
    instructions = data.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid("'instructions' must be a string.", param="instructions")
    stream_format = data.get("stream_format")
    if stream_format not in (None, "audio"):
        raise invalid(
            "'stream_format' must be 'audio': the audio is sent as it is encoded; 'sse' is not supported.",
            param="stream_format",
        )
    speed = parse_number(data, "speed", 0.25, 4.0)
    return SpeechBody(
        model=model,
        input=text,
        voice=voice,
        response_format=response_format,
        speed=1.0 if speed is None else speed,
    )
