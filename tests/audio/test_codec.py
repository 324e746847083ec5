"""audio/codec.py on real files (tests/audio_files.py): sniffing, measuring, transcoding, speech encoding.

Every output is decoded back with PyAV and its samples counted, so "the right format" means a decoder
reads it and "the right length" means the audio is there, not that a header says so.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator

import av
import pytest
from audio_files import has_encoder, make_audio
from image_origin import PNG

from audio.codec import (
    PCM_SAMPLE_RATE,
    SPEECH_FORMATS,
    SPEECH_MEDIA_TYPES,
    AudioError,
    AudioInfo,
    AudioTooLong,
    encode_speech,
    inspect,
    sniff,
    transcode,
)

SECONDS = 3.0
TOLERANCE = 0.1  # encoder priming and padding that a container does not declare (ADTS, a streamed MP3)

# make_audio's names → (what sniff and inspect call the container, the codec inside).
FILES = {
    "mp3": ("mp3", "mp3"),
    "mpga": ("mp3", "mp3"),
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "opus"),
    "ogg-vorbis": ("ogg", "vorbis"),
    "m4a": ("mp4", "aac"),
    "mp4": ("mp4", "aac"),
    "aac": ("aac", "aac"),
    "webm": ("webm", "opus"),
}


def audio(container: str, seconds: float = SECONDS, **kwargs: int) -> bytes:
    if not has_encoder(container):
        pytest.skip(f"this PyAV build cannot encode {container}")
    return make_audio(container, seconds, **kwargs)


def decoded(data: bytes, **open_kwargs: object) -> tuple[float, int, int]:
    """Seconds (samples counted), sample rate and channels of the first audio stream, as PyAV decodes it."""
    samples = rate = channels = 0
    with av.open(io.BytesIO(data), **open_kwargs) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate, channels = frame.sample_rate, frame.layout.nb_channels
    assert rate, "nothing decoded"
    return samples / rate, rate, channels


def chunked(data: bytes, size: int = 4096) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


# sniff


@pytest.mark.parametrize("container", FILES)
def test_sniff_names_each_container_from_its_first_bytes(container: str) -> None:
    assert sniff(audio(container, 0.5)[:64]) == FILES[container][0]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xfb\x90\x64", "mp3"),  # MPEG-1 layer III
        (b"\xff\xf3\x64\xc4", "mp3"),  # MPEG-2 layer III
        (b"\xff\xe3\x18\xc4", "mp3"),  # MPEG-2.5 layer III
        (b"\xff\xfd\x90\x04", "mp3"),  # MPEG-1 layer II
        (b"\xff\xf1\x50\x80", "aac"),  # ADTS, MPEG-4, no CRC
        (b"\xff\xf9\x50\x80", "aac"),  # ADTS, MPEG-2, no CRC
        (b"\xff\xf0\x50\x80", "aac"),  # ADTS with a CRC
        (b"\xff\xff\x90\x64", None),  # layer I
        (b"\xff\xfb\xf0\x64", None),  # the forbidden bitrate index
        (b"\xff\xfb\x9c\x64", None),  # the reserved sample-rate index
        (b"\xff\xeb\x90\x64", None),  # the reserved MPEG version
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),
        (b"\x00\x00\x00\x18ftypmp42", "mp4"),
        (b"\x1a\x45\xdf\xa3\x01\x00", "webm"),
        (PNG, None),
        (b"Hello, this is a text file.\n", None),
        (b"\xff", None),
        (b"", None),
    ],
)
def test_sniff_signatures(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


# inspect


@pytest.mark.parametrize("seconds", [SECONDS, 7.3])
@pytest.mark.parametrize("container", FILES)
def test_inspect_measures_real_files(container: str, seconds: float) -> None:
    info = inspect(audio(container, seconds), max_seconds=60)
    name, codec = FILES[container]
    assert (info.container, info.codec) == (name, codec)
    # ADTS cannot declare the AAC encoder's priming (1024 samples) or its padding: both are heard.
    assert info.duration == pytest.approx(seconds, abs=2048 / 16000 if container == "aac" else TOLERANCE)
    assert info.sample_rate == (48000 if codec == "opus" else 16000)  # Opus always decodes at 48 kHz
    assert info.channels == (2 if container == "ogg-vorbis" else 1)  # FFmpeg's Vorbis encoder is stereo only


def test_inspect_reports_rate_and_channels_of_stereo() -> None:
    info = inspect(audio("m4a", 2.0, sample_rate=44100, channels=2), max_seconds=60)
    assert info == AudioInfo("mp4", "aac", pytest.approx(2.0, abs=TOLERANCE), 44100, 2)


def test_inspect_does_not_believe_a_header_that_declares_more() -> None:
    wav = bytearray(audio("wav", 1.0))
    data = wav.find(b"data")  # after "fmt " and the muxer's LIST chunk
    wav[4:8] = wav[data + 4 : data + 8] = (0xFFFFFFF0).to_bytes(4, "little")  # RIFF and data sizes: 37 hours
    assert inspect(bytes(wav), max_seconds=60).duration == pytest.approx(1.0, abs=0.01)


def _random(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Hello, this is a text file.\n" * 40,
        PNG,
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + _random(4000),  # a tag, then garbage
        b"\xff\xfb\x90\x64" + _random(4000),  # a frame sync, then garbage
        b"OggS" + _random(4000),
        b"RIFF\x00\x00\x00\x00WAVEfmt " + _random(100),
        _random(10_000),
    ],
    ids=["empty", "text", "png", "id3-garbage", "sync-garbage", "ogg-garbage", "wav-garbage", "random"],
)
def test_inspect_refuses_what_is_not_audio(data: bytes) -> None:
    with pytest.raises(AudioError) as caught:
        inspect(data, max_seconds=60)
    assert type(caught.value) is AudioError
    assert str(caught.value).endswith(".") and "Errno" not in str(caught.value)


@pytest.mark.parametrize("container", ["mp3", "wav", "flac", "ogg", "m4a", "webm"])
def test_inspect_refuses_a_file_cut_before_its_audio(container: str) -> None:
    with pytest.raises(AudioError):
        inspect(audio(container, 2.0)[:40], max_seconds=60)


@pytest.mark.parametrize("container", FILES)
def test_inspect_measures_a_cut_file_by_what_is_left(container: str) -> None:
    """Cut anywhere, a file is refused or measured no longer than it was (MP4 keeps its index at the end)."""
    whole = audio(container, 2.0)
    for keep in range(50, len(whole), max(1, len(whole) // 23)):
        try:
            info = inspect(whole[:keep], max_seconds=60)
        except AudioError:
            continue
        assert 0 < info.duration <= 2.0 + 2048 / 16000


def test_inspect_never_raises_anything_but_audio_error_on_damaged_files() -> None:
    rng = random.Random(7)
    for container in FILES:
        original = audio(container, 1.0)
        for _ in range(10):
            damaged = bytearray(original)
            for _ in range(20):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                inspect(bytes(damaged[: rng.randrange(len(damaged) // 2, len(damaged) + 1)]), max_seconds=60)
            except AudioError:
                pass


def _hour_of_mp3() -> bytes:
    """One hour of MP3 made cheaply: the frames of a 10 s file, over and over (MP3 is just frames)."""
    mp3 = audio("mp3", 10.0)
    assert mp3[:3] == b"ID3"
    size = 10 + sum(b << (7 * (3 - i)) for i, b in enumerate(mp3[6:10]))  # ID3v2: a syncsafe size
    return mp3[:size] + mp3[size:] * 360


def test_inspect_stops_as_soon_as_the_audio_is_too_long() -> None:
    hour = _hour_of_mp3()
    started = time.perf_counter()
    with pytest.raises(AudioTooLong) as caught:
        inspect(hour, max_seconds=30)
    elapsed = time.perf_counter() - started
    assert caught.value.limit == 30
    assert 30 < caught.value.seconds < 30.5
    assert "30 seconds" in str(caught.value)
    assert elapsed < 0.5, f"{elapsed:.2f} s to refuse an hour of audio at the 30 s mark"


def test_inspect_measures_a_long_file_by_its_packets() -> None:
    started = time.perf_counter()
    # Each copy brings its Info frame and the encoder's priming and padding along: about 1% more.
    assert inspect(_hour_of_mp3(), max_seconds=7200).duration == pytest.approx(3600, rel=0.02)
    assert time.perf_counter() - started < 5


# transcode


def test_transcode_webm_to_16k_mono_mp3() -> None:
    webm = audio("webm", 5.0, sample_rate=48000)
    mp3 = transcode(webm)
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)
    seconds, rate, channels = decoded(mp3)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(5.0, abs=TOLERANCE)
    assert inspect(mp3, max_seconds=60).container == "mp3"


@pytest.mark.parametrize("target", ["mp3", "wav", "flac"])
def test_transcode_stereo_m4a_into_each_container(target: str) -> None:
    out = transcode(audio("m4a", 3.0, sample_rate=44100, channels=2), container=target)
    assert sniff(out) == target
    seconds, rate, channels = decoded(out)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(3.0, abs=TOLERANCE)


def test_transcode_keeps_channels_and_rate_when_asked() -> None:
    out = transcode(audio("ogg", 2.0), container="flac", sample_rate=44100, channels=2)
    assert decoded(out) == (pytest.approx(2.0, abs=TOLERANCE), 44100, 2)


def test_transcode_refuses_garbage_and_unknown_containers() -> None:
    with pytest.raises(AudioError):
        transcode(b"ID3\x04\x00\x00\x00\x00\x00\x10" + _random(4000))
    with pytest.raises(ValueError, match="mp3, wav or flac"):
        transcode(audio("mp3", 1.0), container="ogg")


# encode_speech

SPEECH_SECONDS = 4.0


@pytest.fixture(scope="module", params=["mp3", "wav"])
def speech(request: pytest.FixtureRequest) -> bytes:
    """What a TTS upstream sends: 24 kHz mono, as MP3 or WAV."""
    return make_audio(request.param, SPEECH_SECONDS, sample_rate=24000, tone_hz=220.0)


def _assert_magic(response_format: str, out: bytes) -> None:
    if response_format == "mp3":
        assert out[:3] == b"ID3" or (out[0] == 0xFF and out[1] & 0xE0 == 0xE0)
    elif response_format == "opus":
        assert out[:4] == b"OggS" and b"OpusHead" in out[:64]
    elif response_format == "aac":
        assert out[0] == 0xFF and out[1] in (0xF1, 0xF9)
    elif response_format == "flac":
        assert out[:4] == b"fLaC"
    elif response_format == "wav":
        assert out[:4] == b"RIFF" and out[8:12] == b"WAVE"


def _speech_seconds(response_format: str, out: bytes) -> float:
    if response_format == "pcm":
        assert len(out) % 2 == 0
        seconds, rate, channels = decoded(out, format="s16le", options={"sample_rate": "24000", "ch_layout": "mono"})
        assert seconds == len(out) / (2 * PCM_SAMPLE_RATE)
        return seconds
    seconds, rate, channels = decoded(out)
    assert channels == 1
    assert rate == (48000 if response_format == "opus" else PCM_SAMPLE_RATE)  # Opus decodes at 48 kHz
    return seconds


@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_encode_speech_into_each_format(speech: bytes, response_format: str) -> None:
    parts = list(encode_speech(chunked(speech), response_format=response_format))
    assert len(parts) > 1, "a 4 s answer should leave in more than one piece"
    assert all(parts)
    out = b"".join(parts)
    _assert_magic(response_format, out)
    assert _speech_seconds(response_format, out) == pytest.approx(SPEECH_SECONDS, abs=TOLERANCE)


@pytest.mark.parametrize("speed", [2.0, 0.5])
@pytest.mark.parametrize("response_format", SPEECH_FORMATS)
def test_encode_speech_changes_speed(speech: bytes, response_format: str, speed: float) -> None:
    out = b"".join(encode_speech(chunked(speech), response_format=response_format, speed=speed))
    _assert_magic(response_format, out)
    assert _speech_seconds(response_format, out) == pytest.approx(SPEECH_SECONDS / speed, rel=0.1)


@pytest.mark.parametrize("speed", [0.25, 0.7, 1.5, 3.0, 4.0])
def test_encode_speech_speeds_outside_one_atempo(speed: float) -> None:
    wav = make_audio("wav", 2.0, sample_rate=24000)
    out = b"".join(encode_speech(iter([wav]), response_format="pcm", speed=speed))
    assert len(out) / (2 * PCM_SAMPLE_RATE) == pytest.approx(2.0 / speed, rel=0.1)


@pytest.mark.parametrize("container", ["mp3", "wav", "flac", "aac"])
def test_encode_speech_passes_the_same_format_through(container: str) -> None:
    source = make_audio(container, SPEECH_SECONDS, sample_rate=24000)
    assert b"".join(encode_speech(chunked(source, 1000), response_format=container)) == source
    assert b"".join(encode_speech(iter([source]), response_format=container)) == source


def test_encode_speech_at_another_speed_is_no_pass_through() -> None:
    source = make_audio("mp3", SPEECH_SECONDS, sample_rate=24000)
    out = b"".join(encode_speech(iter([source]), response_format="mp3", speed=2.0))
    assert out != source
    assert decoded(out)[0] == pytest.approx(SPEECH_SECONDS / 2, rel=0.1)


def test_encode_speech_reads_other_containers() -> None:
    for container in ("flac", "ogg", "aac", "m4a", "webm"):
        out = b"".join(encode_speech(iter([make_audio(container, 2.0)]), response_format="pcm"))
        tolerance = 2048 / 16000 if container == "aac" else TOLERANCE  # ADTS: priming and padding are heard
        assert len(out) / (2 * PCM_SAMPLE_RATE) == pytest.approx(2.0, abs=tolerance), container


@pytest.mark.parametrize("response_format", ["aac", "opus", "pcm"])
def test_encode_speech_survives_a_change_of_rate_midway(response_format: str) -> None:
    """Two MP3s joined (24 kHz mono, then 16 kHz stereo): the encoder's frames keep their size across."""
    joined = make_audio("mp3", 2.0, sample_rate=24000) + make_audio("mp3", 2.0, sample_rate=16000, channels=2)
    out = b"".join(encode_speech(chunked(joined), response_format=response_format))
    assert _speech_seconds(response_format, out) == pytest.approx(4.0, abs=2 * TOLERANCE)


def test_encode_speech_sniffs_across_tiny_first_chunks() -> None:
    wav = make_audio("wav", 1.0, sample_rate=24000)
    chunks = [wav[:1], b"", wav[1:3], wav[3:9], wav[9:]]
    out = b"".join(encode_speech(iter(chunks), response_format="mp3"))
    assert decoded(out)[0] == pytest.approx(1.0, abs=TOLERANCE)


@pytest.mark.parametrize("response_format", ["mp3", "opus", "wav", "pcm"])
def test_encode_speech_streams_before_the_source_ends(response_format: str) -> None:
    source = make_audio("wav", 10.0, sample_rate=24000)
    pieces = list(chunked(source))
    pulled = 0

    def upstream() -> Iterator[bytes]:
        nonlocal pulled
        for piece in pieces:
            pulled += 1
            yield piece

    first = next(encode_speech(upstream(), response_format=response_format))
    assert first
    assert pulled < len(pieces) // 2, f"the first bytes waited for {pulled} of {len(pieces)} upstream chunks"


def test_encode_speech_sets_up_in_the_call() -> None:
    pulled = []

    def upstream() -> Iterator[bytes]:
        pulled.append(1)
        yield make_audio("mp3", 1.0, sample_rate=24000)

    encode_speech(upstream(), response_format="opus")  # never iterated
    assert pulled, "the source should be opened and decoded before the first byte is asked for"


@pytest.mark.parametrize(
    "chunks",
    [
        [],
        [b"", b""],
        [b"Hello, this is a text file.\n"],
        [PNG],
        [b"ID3\x04\x00\x00\x00\x00\x00\x10", _random(5000)],
        [b"RIFF\x00\x00\x00\x00WAVEfmt " + _random(5000)],
        [b"fLaC"],
    ],
    ids=["nothing", "empty-chunks", "text", "png", "id3-garbage", "wav-garbage", "flac-magic-only"],
)
@pytest.mark.parametrize("response_format", ["mp3", "wav", "pcm"])
def test_encode_speech_refuses_undecodable_audio_in_the_call(chunks: list[bytes], response_format: str) -> None:
    with pytest.raises(AudioError):
        encode_speech(iter(chunks), response_format=response_format)  # the call raises: nothing iterated


def test_encode_speech_refuses_bad_arguments() -> None:
    mp3 = make_audio("mp3", 0.5, sample_rate=24000)
    for response_format, speed in [("ogg", 1.0), ("MP3", 1.0), ("mp3", 0.2), ("mp3", 4.5), ("mp3", float("nan"))]:
        with pytest.raises(ValueError):
            encode_speech(iter([mp3]), response_format=response_format, speed=speed)


class UpstreamBroke(Exception):
    pass


@pytest.mark.parametrize("response_format", ["mp3", "aac", "pcm"])
def test_encode_speech_lets_the_upstreams_own_error_through(response_format: str) -> None:
    mp3 = make_audio("mp3", 4.0, sample_rate=24000)

    def upstream() -> Iterator[bytes]:
        yield mp3[: len(mp3) // 2]
        raise UpstreamBroke("the connection dropped")

    with pytest.raises(UpstreamBroke):
        b"".join(encode_speech(upstream(), response_format=response_format))


@pytest.mark.parametrize("response_format", ["aac", "wav"])  # encoded, and passed through
def test_encode_speech_can_be_abandoned(response_format: str) -> None:
    stream = encode_speech(chunked(make_audio("wav", 3.0, sample_rate=24000)), response_format=response_format)
    assert next(stream)
    stream.close()  # a client that leaves: containers close, nothing raises


def test_encode_speech_takes_a_whole_body_too() -> None:
    wav = make_audio("wav", 1.0, sample_rate=24000)
    out = b"".join(encode_speech(wav, response_format="pcm"))  # type: ignore[arg-type]
    assert len(out) == 2 * PCM_SAMPLE_RATE


def test_speech_media_types() -> None:
    assert set(SPEECH_MEDIA_TYPES) == set(SPEECH_FORMATS)
    assert SPEECH_MEDIA_TYPES["mp3"] == "audio/mpeg"
    assert SPEECH_MEDIA_TYPES["opus"] == "audio/ogg"
    assert SPEECH_MEDIA_TYPES["aac"] == "audio/aac"
