"""Audio bytes in and out of the gateway's audio family, with PyAV (FFmpeg), in memory only.

Three jobs, and no Django: `inspect` validates and measures an upload (transcriptions, translations),
`transcode` re-encodes one for an upstream that wants another container, and `encode_speech` turns an
upstream's speech into the `response_format` a client asked for, streaming. Nothing touches the disk:
inputs are `io.BytesIO` or a read()-only wrapper over an iterator of chunks, outputs a write()-only sink.

Facts this relies on:
- Containers are told apart by their first bytes (`sniff`); MPEG audio and ADTS share a 12-bit sync and
  differ in the two layer bits, 00 for ADTS (https://wiki.multimedia.cx/index.php/ADTS,
  http://www.mp3-tech.org/programmer/frame_header.html).
- A demuxed packet's `duration * time_base` is the audio it holds, and FFmpeg marks encoder priming and
  padding with AV_PKT_DATA_SKIP_SAMPLES side data: u32le samples to skip at the start, u32le at the end
  (https://ffmpeg.org/doxygen/trunk/group__lavc__packet__side__data.html), so summing packets measures
  what a player plays without decoding it, and headers that declare a duration are never believed.
- PyAV treats a file object without seek()/tell() as non-seekable (av/container/pyio.py); FFmpeg's
  muxers then write as they go: the WAV muxer leaves its sizes at 0xFFFFFFFF, the FLAC muxer cannot
  rewrite STREAMINFO, the MP3 muxer writes no Xing header (https://ffmpeg.org/ffmpeg-formats.html).
  Decoders, PyAV's included, read all of them.
- `atempo` changes tempo and keeps pitch; one instance blends samples for tempos in [0.5, 2.0] (above 2
  it skips samples), so tempos outside that range are chained (https://ffmpeg.org/ffmpeg-filters.html#atempo).
- OpenAI's speech formats are mp3, opus, aac, flac, wav and pcm; pcm is raw 24 kHz signed 16-bit
  little-endian mono (https://platform.openai.com/docs/api-reference/audio/createSpeech,
  https://platform.openai.com/docs/guides/text-to-speech). Its answers carry audio/mpeg and audio/aac
  (https://github.com/openai/openai-openapi/issues/141); opus is Ogg Opus.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.error
import av.filter


class AudioError(Exception):
    """The bytes are empty, not audio, or cannot be decoded. str(exc) is a client-facing sentence."""


class AudioTooLong(AudioError):
    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"The audio is longer than the {limit:g} seconds allowed.")
        self.seconds = seconds  # measured so far: it stopped as soon as it passed the limit
        self.limit = limit


@dataclass(frozen=True)
class AudioInfo:
    container: str  # "mp3", "wav", "ogg", "flac", "aac", "mp4" or "webm"
    codec: str  # FFmpeg's codec name of the first audio stream: "mp3", "opus", "aac", "pcm_s16le", ...
    duration: float  # seconds, measured from the packets
    sample_rate: int
    channels: int


# Our container name → the FFmpeg demuxer that reads it, and FFmpeg's (first) demuxer name → ours.
_DEMUXERS = {"mp3": "mp3", "wav": "wav", "ogg": "ogg", "flac": "flac", "aac": "aac", "mp4": "mp4", "webm": "matroska"}
_CONTAINERS = {"mp3": "mp3", "wav": "wav", "ogg": "ogg", "flac": "flac", "aac": "aac", "mov": "mp4", "matroska": "webm"}

# What PyAV raises on hostile input, beyond FFmpeg's own errors: odd headers surface as ValueError
# (UnicodeDecodeError in metadata among them), IndexError, OverflowError... MemoryError is not ours.
_AV_ERRORS: tuple[type[BaseException], ...] = (
    av.error.FFmpegError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    EOFError,
    RuntimeError,
)

_PROBE_SECONDS = 1.0  # inspect() decodes this much audio at the start, to know the data really decodes
_PROBE_PACKETS = 64  # ...and gives up if this many packets yield no sample at all


def sniff(head: bytes) -> str | None:
    """The container named by the first bytes (12 are enough), or None when they name none we take."""
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        if head[1] & 0xF6 == 0xF0:  # 12 sync bits, layer 00: ADTS (FFF1/FFF9, or FFF0/FFF8 with a CRC)
            return "aac"
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
        # MPEG audio: 11 sync bits, a real version, layer III or II, no forbidden bitrate or rate index.
        if version != 1 and layer in (1, 2) and bitrate != 15 and rate != 3:
            return "mp3"
    return None


def inspect(data: bytes, *, max_seconds: float) -> AudioInfo:
    """Validate and measure an upload; raise AudioError, or AudioTooLong past `max_seconds`.

    The duration is the sum of the audio stream's packet durations less the priming and padding they
    declare, read without decoding and stopped as soon as it passes the limit, so a small file that
    claims hours costs little. Only the first second or so is decoded, to prove the data decodes.
    """
    if not data:
        raise AudioError("The audio file is empty.")
    if sniff(data[:64]) is None:
        raise AudioError("The file is not audio in a supported format (mp3, wav, ogg, flac, aac, m4a, mp4, webm).")
    try:
        with _open(io.BytesIO(data)) as source:
            container = _CONTAINERS.get(source.format.name.split(",")[0])
            if container is None:
                raise AudioError("The file is not audio in a supported format.")
            stream = _audio_stream(source)
            duration, first = _measure(source, stream, max_seconds)
            codec = stream.codec_context.codec.canonical_name
        if duration is None:  # some packet carried no duration: count the decoded samples instead
            duration = _decoded_seconds(data, max_seconds)
    except _AV_ERRORS as exc:
        raise AudioError("The audio file could not be read; it may be damaged or truncated.") from exc
    return AudioInfo(container, codec, duration, first.sample_rate, first.layout.nb_channels)


def _measure(
    source: av.container.InputContainer, stream: av.audio.stream.AudioStream, max_seconds: float
) -> tuple[float | None, av.AudioFrame]:
    """The packets' duration (None if one has none) and the first decoded frame; AudioError if none decodes."""
    codec = stream.codec_context.codec.canonical_name
    first: av.AudioFrame | None = None
    total, owed, decoded, probed, timed = 0.0, 0.0, 0.0, 0, True
    for packet in source.demux(stream):
        if packet.size == 0:
            continue
        if decoded < _PROBE_SECONDS:  # prove the start decodes: up to a second of it
            if decoded == 0 and probed >= _PROBE_PACKETS:
                break
            probed += 1
            for frame in _decode(stream, packet):
                first = frame if first is None else first
                decoded += frame.samples / frame.sample_rate
        if not packet.duration or packet.duration < 0 or packet.time_base is None:
            timed = False
            continue
        # The decoded rate, once known: the container's is only a claim.
        rate = first.sample_rate if first is not None else stream.codec_context.sample_rate
        seconds = max(float(packet.duration * packet.time_base), _least_seconds(packet, codec, rate))
        owed += _skipped(packet) / rate if rate else 0.0  # an MP3's priming can outlast its first packet
        cut = min(seconds, owed)
        owed -= cut
        total += seconds - cut
        if total > max_seconds:
            raise AudioTooLong(total, max_seconds)
    if first is None and decoded == 0 and probed < _PROBE_PACKETS:
        first = next(iter(_decode(stream, None)), None)  # a short file's frames may all be in the decoder
    if first is None:
        raise AudioError("The audio could not be decoded.")
    return (total if timed and total > 0 else None), first


def _least_seconds(packet: av.Packet, codec: str, rate: int) -> float:
    """The audio a packet holds whatever its container says.

    MP3, FLAC, ADTS, WAV and Ogg Vorbis packets are timed from the codec's own headers, but MP4's and
    Matroska's timing tables are claims a crafted file can shrink, so frames of a fixed size count at
    least that: AAC 1024 samples (960 in a rare variant, the floor), MPEG audio 1152 (576 at 24 kHz and
    below), and Opus what its TOC byte says (RFC 6716, section 3.1).
    """
    if codec == "opus":
        return _opus_samples(memoryview(packet)) / 48000
    if not rate:
        return 0.0
    if codec == "aac":
        return 960 / rate
    if codec in ("mp3", "mp2"):
        return (576 if rate <= 24000 else 1152) / rate
    return 0.0


def _opus_samples(data: memoryview) -> int:
    """Samples at 48 kHz in an Opus packet, from its TOC byte (and frame count byte, for code 3)."""
    if not data:
        return 0
    config, code = data[0] >> 3, data[0] & 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        size = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        size = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        size = (120, 240, 480, 960)[config & 3]
    count = 1 if code == 0 else 2 if code < 3 else (data[1] & 0x3F if len(data) > 1 else 0)
    return size * count


def transcode(
    data: bytes, *, container: str = "mp3", sample_rate: int = 16000, channels: int = 1, bit_rate: int = 64000
) -> bytes:
    """All of `data` re-encoded into `container` ("mp3", "wav" or "flac") at `sample_rate`/`channels`."""
    codec = {"mp3": "libmp3lame", "wav": "pcm_s16le", "flac": "flac"}.get(container)
    if codec is None:
        raise ValueError(f"transcode() makes mp3, wav or flac, not {container!r}")
    layout = {1: "mono", 2: "stereo"}.get(channels)
    if layout is None:
        raise ValueError(f"transcode() makes mono or stereo, not {channels} channels")
    sink = io.BytesIO()  # seekable, so the MP3 muxer writes its Xing header and FLAC its STREAMINFO
    try:
        source = _open(io.BytesIO(data))
    except _AV_ERRORS as exc:
        raise AudioError("The audio file could not be read; it may be damaged or truncated.") from exc
    with source, av.open(sink, "w", format=container) as output:
        stream = output.add_stream(codec, rate=sample_rate, layout=layout)
        if container == "mp3":
            stream.codec_context.bit_rate = bit_rate
            # LAME's quality 7 ("fast"): about a quarter less CPU than its default, and speech
            # recognition does not hear the difference at this rate (bench/results.md).
            stream.codec_context.options = {"compression_level": "7"}
        output.start_encoding()  # opens the encoder, so its frame_size is known
        conform = _Conform(*_target(stream.codec_context))
        any_frame = False
        try:
            for frame in _decoded_frames(source):
                any_frame = True
                for out in conform.push(frame):
                    output.mux(stream.encode(out))
            for out in conform.flush():
                output.mux(stream.encode(out))
            output.mux(stream.encode(None))
        except _AV_ERRORS as exc:  # a frame the filters or the encoder refuse is still the upload's fault
            raise AudioError("The audio could not be converted; it may be damaged.") from exc
        if not any_frame:
            raise AudioError("The audio could not be decoded.")
    return sink.getvalue()


SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH_MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",  # Opus in an Ogg container
    "aac": "audio/aac",  # ADTS
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",  # raw 24 kHz signed 16-bit little-endian mono, no header
}
PCM_SAMPLE_RATE = 24000


def encode_speech(source: Iterator[bytes], *, response_format: str, speed: float = 1.0) -> Iterator[bytes]:
    """Upstream speech (any container `sniff` knows) as `response_format` at `speed`, streamed.

    The set-up happens in this call: the first bytes are sniffed and, unless they pass through as they
    are (same container, speed 1), decoded to a first frame, so an empty, unknown or undecodable source
    raises AudioError here, before the caller sends a byte. The returned iterator yields the encoded
    bytes as the encoder produces them. ValueError for an unknown format or a speed outside 0.25-4.0.
    See audio/speech_encoding.py.
    """
    from audio.speech_encoding import encode  # here, not at the top: that module builds on this one

    return encode(source, response_format=response_format, speed=speed)


# Helpers shared with audio/speech_encoding.py.


def _open(file: Any, *, format: str | None = None, **options: str) -> av.container.InputContainer:
    """An input container; metadata in a bad encoding is replaced, where PyAV's default would refuse the file."""
    return av.open(file, format=format, metadata_errors="replace", container_options=options or None)


def _audio_stream(source: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not source.streams.audio or source.streams.audio[0].codec_context is None:
        raise AudioError("The file has no audio this server can decode.")
    return source.streams.audio[0]


def _decode(stream: av.audio.stream.AudioStream, packet: av.Packet | None) -> list[av.AudioFrame]:
    """The frames of one packet (None: the decoder's last ones); a damaged packet yields none, as in ffmpeg."""
    try:
        return [f for f in stream.codec_context.decode(packet) if f.samples]
    except av.error.InvalidDataError:
        return []


def _decoded_frames(source: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    """Every decoded frame of the first audio stream; demuxing errors become AudioError."""
    stream = _audio_stream(source)
    try:
        for packet in source.demux(stream):
            yield from _decode(stream, packet if packet.size else None)
    except _AV_ERRORS as exc:
        raise AudioError("The audio could not be read to its end; it may be damaged or truncated.") from exc


def _skipped(packet: av.Packet) -> int:
    """The priming/padding samples a packet declares (AV_PKT_DATA_SKIP_SAMPLES: u32le start, u32le end)."""
    if not packet.has_sidedata("skip_samples"):
        return 0
    side = bytes(packet.get_sidedata("skip_samples"))
    return sum(struct.unpack_from("<II", side)) if len(side) >= 8 else 0


def _decoded_seconds(data: bytes, max_seconds: float) -> float:
    """The duration by decoding and counting samples, for packets that carry no durations."""
    total = 0.0
    with _open(io.BytesIO(data)) as source:
        for frame in _decoded_frames(source):
            total += frame.samples / frame.sample_rate
            if total > max_seconds:
                raise AudioTooLong(total, max_seconds)
    if total <= 0:
        raise AudioError("The audio could not be decoded.")
    return total


def _target(encoder: av.AudioCodecContext) -> tuple[str, str, int, int]:
    """What an opened encoder takes: sample format, layout, rate, and frame size (0: any)."""
    return encoder.format.name, encoder.layout.name, encoder.sample_rate, encoder.frame_size


def _tempo_steps(speed: float) -> list[float]:
    """atempo factors whose product is `speed`, each within [0.5, 2.0], where atempo blends samples."""
    steps = []
    while speed > 2.0:
        steps.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        steps.append(0.5)
        speed /= 0.5
    return [*steps, speed] if speed != 1.0 else steps


class _Conform:
    """Decoded frames → (atempo) → the encoder's sample format, layout and rate, in its frame size.

    A filter graph per run of same-shaped input (a chained Ogg or a joined MP3 can change rate midway);
    an AudioFifo after it cuts the encoder's fixed-size frames across graphs, and pts count samples.
    """

    def __init__(self, sample_format: str, layout: str, rate: int, frame_size: int, *, speed: float = 1.0) -> None:
        self._format, self._layout, self._rate = sample_format, layout, rate
        self._frame_size = frame_size  # 0: any size (PCM)
        self._steps = _tempo_steps(speed)
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[str, str, int] | None = None
        self._fifo = av.AudioFifo()
        self._in_pts = 0
        self._out_pts = 0

    def push(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if shape != self._shape:
            if self._graph is not None:
                self._run(None)
            self._graph, self._shape, self._in_pts = self._build(*shape), shape, 0
        frame.pts, frame.time_base = self._in_pts, Fraction(1, frame.sample_rate)  # decoders' pts may be absent
        self._in_pts += frame.samples
        self._run(frame)
        return self._take(final=False)

    def flush(self) -> list[av.AudioFrame]:
        if self._graph is not None:
            self._run(None)
            self._graph = self._shape = None
        return self._take(final=True)

    def _build(self, sample_format: str, layout: str, rate: int) -> av.filter.Graph:
        graph = av.filter.Graph()
        nodes = [graph.add_abuffer(format=sample_format, layout=layout, sample_rate=rate, time_base=Fraction(1, rate))]
        nodes += [graph.add("atempo", f"{step:.6f}") for step in self._steps]
        nodes.append(
            graph.add("aformat", sample_fmts=self._format, channel_layouts=self._layout, sample_rates=str(self._rate))
        )
        nodes.append(graph.add("abuffersink"))
        graph.link_nodes(*nodes).configure()
        return graph

    def _run(self, frame: av.AudioFrame | None) -> None:
        assert self._graph is not None
        self._graph.push(frame)
        while True:
            try:
                out = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            out.pts = None  # the fifo checks pts continuity, which a new graph restarts
            self._fifo.write(out)

    def _take(self, *, final: bool) -> list[av.AudioFrame]:
        if self._frame_size:
            frames = self._fifo.read_many(self._frame_size, partial=final)
        else:
            frames = [f for f in [self._fifo.read()] if f is not None]
        for out in frames:
            out.pts, out.time_base = self._out_pts, Fraction(1, self._rate)
            self._out_pts += out.samples
        return frames
