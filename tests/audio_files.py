"""Real audio files for the audio tests, made in memory with PyAV: a tone broken by short silences.

`make_audio(container, seconds)` encodes the same signal into any container the gateway's audio
family meets; the codec and muxer behind each name are in `_RECIPES`. Nothing here imports the
code under test, so a bug in audio/codec.py cannot hide in the fixtures.
"""

from __future__ import annotations

import io
import math
import sys
from array import array
from dataclasses import dataclass
from fractions import Fraction

import av

FRAME_SAMPLES = 1024  # the size of the frames fed to the resampler, not the encoder's (it re-chunks)
SILENCE_EVERY = 0.5  # seconds: every half second the tone stops...
SILENCE_FOR = 0.05  # ...for 50 ms, so the signal is not a constant


@dataclass(frozen=True)
class _Recipe:
    codec: str
    muxer: str
    rates: tuple[int, ...] | None = None  # the encoder's sample rates, when it is picky
    channels: int | None = None  # forced channel count (FFmpeg's native Vorbis encoder is stereo only)
    options: tuple[tuple[str, str], ...] = ()


_RECIPES: dict[str, _Recipe] = {
    "mp3": _Recipe("libmp3lame", "mp3"),
    "mpga": _Recipe("libmp3lame", "mp3"),  # .mpga is MPEG audio, the same bytes as .mp3
    "wav": _Recipe("pcm_s16le", "wav"),
    "flac": _Recipe("flac", "flac"),
    "ogg": _Recipe("libopus", "ogg", rates=(48000, 24000, 16000, 12000, 8000)),
    "ogg-vorbis": _Recipe("vorbis", "ogg", channels=2, options=(("strict", "experimental"),)),
    "m4a": _Recipe("aac", "ipod"),
    "mp4": _Recipe("aac", "mp4"),
    "aac": _Recipe("aac", "adts"),
    "webm": _Recipe("libopus", "webm", rates=(48000, 24000, 16000, 12000, 8000)),
}

CONTAINERS = tuple(_RECIPES)


def has_encoder(container: str) -> bool:
    """Whether this PyAV build can make `container` (the native Vorbis encoder is optional)."""
    try:
        av.codec.Codec(_RECIPES[container].codec, "w")
    except av.error.FFmpegError:
        return False
    return True


def _signal(seconds: float, sample_rate: int, channels: int, tone_hz: float) -> bytes:
    """Interleaved signed 16-bit samples: the tone at half scale, silent for SILENCE_FOR every SILENCE_EVERY."""
    total = round(seconds * sample_rate)
    step = 2 * math.pi * tone_hz / sample_rate
    period = round(SILENCE_EVERY * sample_rate)
    gap = round(SILENCE_FOR * sample_rate)
    samples = array("h")
    for i in range(total):
        value = 0 if i % period >= period - gap else round(16000 * math.sin(step * i))
        samples.extend([value] * channels)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def _frames(pcm: bytes, sample_rate: int, channels: int) -> list[av.AudioFrame]:
    layout = "mono" if channels == 1 else "stereo"
    width = 2 * channels
    frames = []
    for start in range(0, len(pcm), FRAME_SAMPLES * width):
        chunk = pcm[start : start + FRAME_SAMPLES * width]
        frame = av.AudioFrame(format="s16", layout=layout, samples=len(chunk) // width)
        frame.planes[0].update(chunk)  # the plane may be padded past the samples; update() fills the start
        frame.sample_rate = sample_rate
        frame.pts = start // width
        frame.time_base = Fraction(1, sample_rate)
        frames.append(frame)
    return frames


def make_audio(
    container: str,
    seconds: float,
    *,
    sample_rate: int = 16000,
    channels: int = 1,
    tone_hz: float = 440.0,
) -> bytes:
    """A real `container` file of `seconds` of the tone (see the module docstring), made in memory."""
    recipe = _RECIPES[container]
    channels = recipe.channels or channels
    rate = sample_rate
    if recipe.rates and rate not in recipe.rates:
        rate = min(recipe.rates, key=lambda r: abs(r - sample_rate))
    layout = "mono" if channels == 1 else "stereo"
    sink = io.BytesIO()  # seekable: the mp4 muxer writes its index after the data and seeks back to it
    with av.open(sink, "w", format=recipe.muxer) as output:
        stream = output.add_stream(recipe.codec, rate=rate, layout=layout, options=dict(recipe.options))
        output.start_encoding()  # opens the encoder: its frame_size is 0 until then
        encoder = stream.codec_context
        resampler = av.AudioResampler(
            format=encoder.format, layout=layout, rate=rate, frame_size=encoder.frame_size or None
        )
        for frame in [*_frames(_signal(seconds, sample_rate, channels, tone_hz), sample_rate, channels), None]:
            for out in resampler.resample(frame):
                if out is not None:
                    output.mux(stream.encode(out))
        output.mux(stream.encode(None))
    return sink.getvalue()
