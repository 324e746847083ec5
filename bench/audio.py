"""The audio endpoints under `make bench` (bench/run.py calls `audio_rows` with its running server).

- transcription of a 60 s MP3 through the gateway (whisper-1: decoded and measured, then sent as
  base64 JSON) against the same upload straight to the emulator: the gateway's overhead;
- the same for a 60 s WebM/Opus file to whisper-tiny-en, which the gateway transcodes to MP3 first;
- speech of a 100-word input: time to the first byte and to the last, in mp3 (the upstream's MP3
  passed through) and in opus (decoded and re-encoded as it streams).
The emulator's own work (decoding the audio it is sent, encoding the speech it answers) is in
both columns; the emulator answers at zero added latency.
"""

from __future__ import annotations

import base64
import io
import statistics
import time
from array import array
from collections.abc import Callable

import av
import requests

SECONDS = 60
RUNS = 30
SPEECH_RUNS = 10  # each one is ~0.5-1 s: the emulator synthesises 40 s of audio
SPEECH = " ".join(["gateways"] * 100)


def _tone(container: str, codec: str, seconds: int, rate: int = 16000) -> bytes:
    """A 440 Hz square-ish tone, mono, in `container`; enough to be real audio for the emulator."""
    sink = io.BytesIO()
    with av.open(sink, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate if codec != "libopus" else 48000)
        stream.layout = "mono"
        samples = array("h", ((8000 if (i // 18) % 2 else -8000) for i in range(rate)))
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        for second in range(seconds):
            frame = av.AudioFrame(format="s16", layout="mono", samples=rate)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate, frame.pts = rate, second * rate
            for converted in resampler.resample(frame):
                output.mux(stream.encode(converted))
        output.mux(stream.encode(None))
    return sink.getvalue()


def _p50(call: Callable[[], float], runs: int = RUNS) -> float:
    call()  # warm-up
    return statistics.median(call() for _ in range(runs)) * 1000


def _timed(send: Callable[[], requests.Response]) -> Callable[[], float]:
    def once() -> float:
        started = time.perf_counter()
        answer = send()
        answer.raise_for_status()
        return time.perf_counter() - started

    return once


def _speech(base: str, headers: dict[str, str], response_format: str) -> tuple[float, float]:
    """p50 time to the first byte and to the last, in ms (MeloTTS answers whole, so the first byte
    waits for its answer; the encoding after it is what streams)."""
    firsts, totals = [], []
    for _ in range(SPEECH_RUNS + 1):
        started = time.perf_counter()
        with requests.post(
            f"{base}/v1/audio/speech",
            json={"model": "tts-1", "voice": "alloy", "input": SPEECH, "response_format": response_format},
            headers=headers,
            stream=True,
            timeout=60,
        ) as answer:
            answer.raise_for_status()
            chunks = answer.iter_content(chunk_size=None)
            next(chunks)
            firsts.append(time.perf_counter() - started)
            for _chunk in chunks:
                pass
            totals.append(time.perf_counter() - started)
    return statistics.median(firsts[1:]) * 1000, statistics.median(totals[1:]) * 1000


def audio_rows(base: str, headers: dict[str, str], upstream: str, token: str) -> list[str]:
    mp3 = _tone("mp3", "libmp3lame", SECONDS)
    webm = _tone("webm", "libopus", SECONDS)
    direct_headers = {"Authorization": f"Bearer {token}"}

    def gateway(model: str, name: str, audio: bytes) -> Callable[[], float]:
        files = {"file": (name, audio)}
        return _timed(
            lambda: requests.post(
                f"{base}/v1/audio/transcriptions", files=files, data={"model": model}, headers=headers, timeout=60
            )
        )

    turbo_direct = _timed(
        lambda: requests.post(
            f"{upstream}/@cf/openai/whisper-large-v3-turbo",
            json={"audio": base64.b64encode(mp3).decode("ascii"), "task": "transcribe"},
            headers=direct_headers,
            timeout=60,
        )
    )
    tiny_direct = _timed(
        lambda: requests.post(f"{upstream}/@cf/openai/whisper-tiny-en", data=mp3, headers=direct_headers, timeout=60)
    )
    turbo = (_p50(gateway("whisper-1", "talk.mp3", mp3)), _p50(turbo_direct))
    tiny = (_p50(gateway("whisper-tiny-en", "talk.webm", webm)), _p50(tiny_direct))
    melotts_direct = _p50(
        _timed(
            lambda: requests.post(
                f"{upstream}/@cf/myshell-ai/melotts",
                json={"prompt": SPEECH, "lang": "en"},
                headers=direct_headers,
                timeout=60,
            )
        ),
        runs=10,
    )
    mp3_speech = _speech(base, headers, "mp3")
    opus_speech = _speech(base, headers, "opus")
    return [
        f"| transcription, {SECONDS} s MP3 ({len(mp3) // 1024} kB) → whisper-1: gateway / direct p50, overhead | "
        f"{turbo[0]:.1f} / {turbo[1]:.1f} ms, {turbo[0] - turbo[1]:.1f} ms |",
        f"| transcription, {SECONDS} s WebM ({len(webm) // 1024} kB) → whisper-tiny-en, transcoded to MP3: "
        f"gateway / direct (MP3) p50, overhead | {tiny[0]:.1f} / {tiny[1]:.1f} ms, {tiny[0] - tiny[1]:.1f} ms |",
        f"| speech, 100 words (~40 s of audio), MeloTTS straight from the emulator p50 | {melotts_direct:.1f} ms |",
        f"| speech, 100 words, mp3 passed through: first byte / last byte p50 | "
        f"{mp3_speech[0]:.1f} / {mp3_speech[1]:.1f} ms |",
        f"| speech, 100 words, opus encoded as it streams: first byte / last byte p50 | "
        f"{opus_speech[0]:.1f} / {opus_speech[1]:.1f} ms |",
    ]
