"""Speech to text and text to speech on a route: what the upstream needs, what it answered.

An upload goes upstream as it came when the route's model decodes its container itself, else
transcoded once to 16 kHz mono MP3 (what whisper listens at). Speech comes back in whatever
container the upstream chose — recognised by its magic bytes, not by the model's name — and is
encoded into the client's format as it is read (audio/codec.py), so the first bytes leave before
the last are made.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from audio.lazy_codec import codec
from audio.request import SpeechBody, TranscriptionBody
from gateway.accounting.entry import UsageEntry
from gateway.catalog.fallbacks import with_fallbacks
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.providers.audio import SpeechAudio, SpeechRequest, Transcript, TranscriptionRequest
from gateway.providers.base import ProviderError
from gateway.providers.registry import speech_provider_for, transcription_provider_for

UPSTREAM_CONTAINER = "mp3"


def transcribe(body: TranscriptionBody, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> Transcript:
    """The transcript, and the audio seconds billed: the upstream's measure, else the decoded upload's.
    Its language is the upstream's, else the client's `language`, else unknown (null)."""
    transcoded: dict[str, bytes] = {}

    def call(target: RouteTarget) -> Transcript:
        provider = transcription_provider_for(target.provider.config())
        if body.task == "translate" and not provider.translates(target.upstream_model):
            raise invalid(
                f"`{body.model}` is served by {target.upstream_model}, which cannot translate speech; "
                "use a model that can (e.g. whisper-1).",
                param="model",
                code="translation_not_supported",
            )
        audio, container = body.audio, body.info.container
        if not provider.accepts_container(target.upstream_model, container):
            if UPSTREAM_CONTAINER not in transcoded:
                try:
                    transcoded[UPSTREAM_CONTAINER] = codec.transcode(body.audio, container=UPSTREAM_CONTAINER)
                except codec.AudioError as exc:  # its start decoded (request.py), a later part does not
                    message = f"'file' cannot be decoded to its end: {exc}"
                    raise invalid(message, param="file", code="invalid_audio") from None
            audio, container = transcoded[UPSTREAM_CONTAINER], UPSTREAM_CONTAINER
        request = TranscriptionRequest(
            model=target.upstream_model,
            audio=audio,
            container=container,
            task="translate" if body.task == "translate" else "transcribe",
            language=body.language,
            prompt=body.prompt,
        )
        return provider.transcribe(request)

    transcript = with_fallbacks(targets, entry, call)
    entry.audio_seconds = duration_of(transcript, body)
    if transcript.language is None and body.language:  # the language the client said it speaks
        transcript = replace(transcript, language=body.language)
    return transcript


def duration_of(transcript: Transcript, body: TranscriptionBody) -> float:
    return transcript.duration if transcript.duration else body.info.duration


def speak(body: SpeechBody, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> tuple[Iterator[bytes], SpeechAudio]:
    """The encoded audio as an iterator, already started: an upstream whose answer cannot be
    decoded fails here, before a byte is sent, and the next route is tried."""

    def call(target: RouteTarget) -> tuple[Iterator[bytes], SpeechAudio]:
        provider = speech_provider_for(target.provider.config())
        audio = provider.speak(SpeechRequest(model=target.upstream_model, text=body.input, voice=body.voice))
        try:
            encoded = codec.encode_speech(audio.chunks, response_format=body.response_format, speed=body.speed)
        except codec.AudioError as exc:
            audio.close()
            raise ProviderError("upstream", f"Upstream error: the speech audio cannot be decoded ({exc}).") from exc
        except BaseException:
            audio.close()
            raise
        return encoded, audio

    encoded, audio = with_fallbacks(targets, entry, call)
    entry.characters = len(body.input)
    return encoded, audio
