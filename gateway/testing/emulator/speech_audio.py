"""Real audio bytes for the speech models, read and written with PyAV (FFmpeg bundled).

The emulator plays the upstream, so it imports `av` itself and none of the gateway's own audio
code: a bug there must not hide behind the same bug here.

- audio_duration(data): the seconds of audio `data` decodes to, as Whisper upstream decodes any
  FFmpeg-readable file (https://developers.cloudflare.com/workers-ai/models/whisper/); anything
  without a decodable audio stream raises UnreadableAudio (the handler answers 400 / 3010).
- speech_pcm(words, rate): what the emulator "says": per word a 0.3 s sine tone then 0.1 s of
  silence (0.4 s a word, at least 0.6 s in all), the pitch stepping through a scale word by word
  so a listener hears the words; each tone is whole periods long, so it starts and ends at zero
  (no clicks).
- encode(pcm, rate, fmt, codec): that PCM in a real file format (MP3, WAV, FLAC, Ogg Opus, ADTS
  AAC, raw μ-law…).
"""

from __future__ import annotations

import array
import functools
import io
import math
import sys
from fractions import Fraction

import av

WORD_SECONDS = 0.4
TONE_SECONDS = 0.3
MIN_SECONDS = 0.6
_AMPLITUDE = 9000  # of 32767: clearly audible, far from clipping after lossy encoding
_PITCHES = (196.0, 220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0)  # G3 up to G4, Hz


class UnreadableAudio(Exception):
    """The bytes hold no decodable audio (not audio at all, empty, or cut before any sample)."""


def audio_duration(data: bytes) -> float:
    """Seconds of audio in the first audio stream, counted from the decoded samples (container
    metadata may be missing or wrong). What decodes before a corrupt tail still counts, as
    FFmpeg-based transcription keeps what it could read."""
    if not data:
        raise UnreadableAudio("no audio bytes")
    seconds = 0.0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UnreadableAudio("no audio stream")
            try:
                for frame in container.decode(container.streams.audio[0]):
                    seconds += frame.samples / frame.sample_rate
            except av.FFmpegError:
                if seconds <= 0:
                    raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UnreadableAudio(str(exc)) from exc
    if seconds <= 0:
        raise UnreadableAudio("no audio samples")
    return seconds


@functools.lru_cache(maxsize=64)
def _cycle(period: int) -> bytes:
    """One sine period of `period` samples, 16-bit little-endian."""
    samples = array.array("h", (round(_AMPLITUDE * math.sin(2 * math.pi * i / period)) for i in range(period)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def speech_pcm(words: list[str], sample_rate: int) -> bytes:
    """16-bit little-endian mono PCM of `words` (see the module docstring)."""
    per_word = round(WORD_SECONDS * sample_rate)
    pcm = bytearray()
    for i, _ in enumerate(words):
        period = round(sample_rate / _PITCHES[i % len(_PITCHES)])
        pcm += _cycle(period) * (round(TONE_SECONDS * sample_rate) // period)
        pcm += bytes(2 * (i + 1) * per_word - len(pcm))  # silence up to the next word's slot
    total = max(len(words) * per_word, round(MIN_SECONDS * sample_rate))
    pcm += bytes(2 * total - len(pcm))
    return bytes(pcm)


def speech_seconds(words: int) -> float:
    return max(words * WORD_SECONDS, MIN_SECONDS)


def encode(
    pcm: bytes,
    sample_rate: int,
    container_format: str,
    codec: str,
    *,
    bit_rate: int | None = None,
    container_options: dict[str, str] | None = None,
) -> bytes:
    """16-bit mono PCM encoded with `codec` into `container_format` (FFmpeg muxer names: "mp3",
    "wav", "flac", "ogg", "adts", "mulaw", "alaw"…). PyAV converts the sample format (s16 to the
    float planes MP3 and AAC take) and cuts the frame sizes each codec needs."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format, options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
        frame.planes[0].update(pcm)
        frame.sample_rate = sample_rate
        frame.time_base = Fraction(1, sample_rate)
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
