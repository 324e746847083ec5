"""The streaming half of audio/codec.py: upstream speech into the client's `response_format`.

Call it through `audio.codec.encode_speech`. The source is an iterator of byte chunks (an upstream's
body); FFmpeg reads it through `_ChunkReader`, a read()-only file, and writes into `_Sink`, a write()-only
one, so neither side is seekable and the output leaves as it is made (see audio/codec.py's docstring
for what that costs each muxer). With the demuxer named from the sniffed bytes and probesize 32,
FFmpeg needs only the first packet or so before the first frame decodes (the WAV demuxer still reads
64 KiB, looking for S/PDIF in the PCM: https://ffmpeg.org/doxygen/trunk/wavdec_8c_source.html); MP4
keeps its index where it likes, often at the end, so an MP4 source is read whole first.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

import av
import av.error

from audio.codec import (
    _AV_ERRORS,
    _DEMUXERS,
    _PROBE_PACKETS,
    PCM_SAMPLE_RATE,
    SPEECH_FORMATS,
    AudioError,
    _audio_stream,
    _Conform,
    _decode,
    _open,
    _target,
    sniff,
)

# response_format → (encoder, muxer, bit rate or None for lossless). 24 kHz mono is what TTS models make
# and what OpenAI's pcm is; libopus takes 24 kHz as it is (its rates are 8/12/16/24/48 kHz).
_ENCODINGS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("libmp3lame", "mp3", 64000),
    "opus": ("libopus", "ogg", 32000),
    "aac": ("aac", "adts", 64000),
    "flac": ("flac", "flac", None),
    "wav": ("pcm_s16le", "wav", None),
}
_SNIFF_BYTES = 12  # enough for every signature sniff() knows ("RIFF....WAVE", "....ftyp")


def encode(source: Iterator[bytes], *, response_format: str, speed: float) -> Iterator[bytes]:
    if response_format not in SPEECH_FORMATS:
        raise ValueError(f"response_format must be one of {', '.join(SPEECH_FORMATS)}, not {response_format!r}")
    if not 0.25 <= speed <= 4.0:  # also refuses NaN
        raise ValueError(f"speed must be between 0.25 and 4.0, not {speed!r}")
    if isinstance(source, bytes | bytearray | memoryview):  # a whole body: one chunk, not an iterator of ints
        source = iter([bytes(source)])
    reader = _ChunkReader(iter(source))
    head = reader.peek(_SNIFF_BYTES)
    if not head:
        raise AudioError("The speech service sent no audio.")
    container = sniff(head)
    if container is None:
        raise AudioError("The speech service sent audio in a format this server cannot read.")
    # Same container at speed 1 passes through untouched; the first frame is still decoded, from the
    # bytes FFmpeg read (which the reader keeps), so undecodable audio is refused before the first byte.
    passing = container == response_format and speed == 1.0
    reader.recorded = [] if passing else None
    file: Any = io.BytesIO(reader.read()) if container == "mp4" else reader
    with _reading(reader):
        source_container = _open(file, format=_DEMUXERS[container], probesize="32", analyzeduration="0")
    try:
        with _reading(reader):
            first = _first_frames(source_container)
        if passing:
            source_container.close()
            return _passed(reader)
        return _encoded(reader, source_container, first, response_format, speed)
    except BaseException:
        source_container.close()
        raise


def _passed(reader: _ChunkReader) -> Iterator[bytes]:
    """The bytes FFmpeg read to check the start, then the rest of the source as it comes (a generator, so
    it has close() like the encoding one)."""
    yield from reader.recorded or []
    yield from reader.rest()


def _first_frames(source: av.container.InputContainer) -> list[av.AudioFrame]:
    """Demux and decode until a frame has samples; AudioError if the start of the stream does not decode."""
    stream = _audio_stream(source)
    for tries, packet in enumerate(source.demux(stream)):
        frames = _decode(stream, packet if packet.size else None)
        if frames:
            return frames
        if tries >= _PROBE_PACKETS:
            break
    raise AudioError("The speech service sent audio that could not be decoded.")


def _encoded(
    reader: _ChunkReader,
    source: av.container.InputContainer,
    first: list[av.AudioFrame],
    response_format: str,
    speed: float,
) -> Iterator[bytes]:
    """Sets up the output now (the caller is still in encode()), then returns the generator that runs it."""
    sink = _Sink()
    if response_format == "pcm":
        output, stream = None, None
        conform = _Conform("s16", "mono", PCM_SAMPLE_RATE, 0, speed=speed)
    else:
        codec, muxer, bit_rate = _ENCODINGS[response_format]
        output = av.open(sink, "w", format=muxer)
        stream = output.add_stream(codec, rate=PCM_SAMPLE_RATE, layout="mono")
        if bit_rate:
            stream.codec_context.bit_rate = bit_rate
        output.start_encoding()  # opens the encoder (its frame_size is now known) and writes the header
        conform = _Conform(*_target(stream.codec_context), speed=speed)

    def emit(frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            if stream is None:  # raw PCM: the samples themselves (the plane may be padded past them)
                sink.write(bytes(frame.planes[0])[: frame.samples * 2])
            else:
                output.mux(stream.encode(frame))

    def run() -> Iterator[bytes]:
        try:
            audio = _audio_stream(source)
            with _reading(reader):
                for frame in chain(first, _rest(source, audio)):
                    emit(conform.push(frame))
                    if data := sink.take():
                        yield data
                emit(conform.flush())
            if output is not None and stream is not None:
                output.mux(stream.encode(None))
                output.close()  # the muxer's trailer, if any, goes to the sink
            if data := sink.take():
                yield data
        finally:
            source.close()
            if output is not None:
                output.close()

    return run()


def _rest(source: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> Iterator[av.AudioFrame]:
    for packet in source.demux(stream):
        yield from _decode(stream, packet if packet.size else None)


@contextmanager
def _reading(reader: _ChunkReader) -> Iterator[None]:
    """FFmpeg's and PyAV's errors become AudioError; the source's own exception passes through as it is."""
    try:
        yield
    except _AV_ERRORS as exc:
        if reader.failure is not None:
            raise reader.failure from None
        raise AudioError("The speech service sent audio that could not be decoded.") from exc


class _ChunkReader:
    """A read()-only file over an iterator of byte chunks: no seek(), so FFmpeg treats it as a stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._pos = 0
        self.failure: BaseException | None = None  # what the source raised, to re-raise it unchanged
        self.recorded: list[bytes] | None = None  # every byte handed out, when a pass-through needs them

    def _pull(self) -> bytes:
        try:
            for chunk in self._chunks:
                if chunk:
                    return bytes(chunk)
        except BaseException as exc:
            self.failure = exc
            raise
        return b""

    def peek(self, size: int) -> bytes:
        """At least `size` bytes from the current position (fewer at the end), without consuming them."""
        while len(self._buffer) - self._pos < size and (chunk := self._pull()):
            self._buffer = self._buffer[self._pos :] + chunk
            self._pos = 0
        return self._buffer[self._pos : self._pos + size]

    def read(self, size: int = -1) -> bytes:
        """At most `size` bytes (PyAV copies the answer into a buffer of that size); all of it for -1."""
        if size < 0:
            out = b"".join([self._buffer[self._pos :], *iter(self._pull, b"")])
            self._buffer, self._pos = b"", 0
        else:
            if self._pos >= len(self._buffer):
                self._buffer, self._pos = self._pull(), 0
            out = self._buffer[self._pos : self._pos + size]
            self._pos += len(out)
        if self.recorded is not None and out:
            self.recorded.append(out)
        return out

    def rest(self) -> Iterator[bytes]:
        """What has not been read yet, as chunks."""
        if self._pos < len(self._buffer):
            yield self._buffer[self._pos :]
        self._buffer, self._pos = b"", 0
        yield from iter(self._pull, b"")


class _Sink:
    """A write()-only file: no seek(), so the muxer writes straight through and never goes back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out
