"""Typed requests and results of the audio tasks at the provider boundary: speech to text and text
to speech. As in base.py, nothing upstream-shaped travels past an adapter.

Audio bytes cross this boundary as they are: the family validates, measures and (where an adapter
says the upstream cannot take a container) transcodes uploads, and turns whatever container the
upstream speaks in into the client's format (audio/codec.py); adapters only say what they take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

SpeechTask = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class TranscriptionRequest:
    model: str  # upstream model id, e.g. "@cf/openai/whisper-large-v3-turbo"
    audio: bytes
    container: str  # "mp3", "wav", "flac", "ogg", "webm", "mp4" or "aac" (audio/codec.py sniff)
    task: SpeechTask = "transcribe"
    language: str | None = None  # ISO-639-1, as the client gave it
    prompt: str | None = None  # text the model continues from (whisper's initial_prompt)


@dataclass(frozen=True)
class TimedWord:
    word: str
    start: float  # seconds from the start of the audio
    end: float


@dataclass(frozen=True)
class TranscriptSegment:
    start: float
    end: float
    text: str
    words: tuple[TimedWord, ...] = ()
    # Decoder statistics; None when the upstream did not report them.
    temperature: float | None = None
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None = None  # ISO code as the upstream reported it; None when it reports none
    duration: float | None = None  # seconds, as the upstream measured them
    segments: tuple[TranscriptSegment, ...] = ()  # empty when the upstream gives words only
    words: tuple[TimedWord, ...] = ()  # every word in order (the segments' words, or the upstream's list)


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    text: str
    voice: str  # an OpenAI voice name (alloy, ash, …): the adapter maps it to the upstream's voice


@dataclass
class SpeechAudio:
    """Upstream speech as it arrives: `chunks` of one audio file in whatever container the
    upstream chose (told apart by magic bytes, not by this type); `close` releases the upstream
    connection when the chunks are not read to their end."""

    chunks: Iterator[bytes]
    close: Callable[[], None] = field(default=lambda: None)


class TranscriptionProvider(Protocol):
    def accepts_container(self, model: str, container: str) -> bool:
        """Whether the upstream model decodes this container itself (else the family transcodes)."""
        ...

    def translates(self, model: str) -> bool:
        """Whether the model can translate speech into English."""
        ...

    def transcribe(self, request: TranscriptionRequest) -> Transcript: ...


class SpeechProvider(Protocol):
    def speak(self, request: SpeechRequest) -> SpeechAudio: ...
