"""Deterministic outputs of the non-chat tasks: embeddings, speech recognition, speech, images.

Shapes follow the Workers AI model pages (https://developers.cloudflare.com/workers-ai/models/:
embeddings, speech to text, text to speech, images). The audio and image bytes are tiny but
well-formed (a silent MP3, a grey 8×8 JPEG) so that a gateway which sniffs magic bytes or decodes
them gets something real.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from typing import Any

from .catalogue import CatalogueModel

SECONDS_PER_WORD = 0.5


@functools.lru_cache(maxsize=4096)
def _direction(token: str, dimensions: int) -> tuple[float, ...]:
    raw = hashlib.shake_256(token.encode("utf-8")).digest(2 * dimensions)
    return tuple(int.from_bytes(raw[i : i + 2], "big") / 32767.5 - 1.0 for i in range(0, len(raw), 2))


def embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector that is the sum of one pseudo-random direction per word, plus a small one for
    the whole text: equal texts give equal vectors, and texts sharing words have a higher cosine
    similarity the more words they share, so retrieval can be tested against it."""
    words = re.findall(r"\w+", text.lower())
    values = [0.25 * v for v in _direction("\x00" + text, dimensions)]
    for word in words:
        values = [a + b for a, b in zip(values, _direction(word, dimensions), strict=True)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings_result(model: CatalogueModel, body: dict[str, Any]) -> dict[str, Any]:
    texts = [body["text"]] if isinstance(body["text"], str) else body["text"]
    dims = model.output_dimensions or 768
    return {
        "shape": [len(texts), dims],
        "data": [embedding(t, dims) for t in texts],
        "pooling": body.get("pooling", "mean"),
    }


def _timestamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{int(seconds * 1000) % 1000:03d}"


def whisper_result(model: CatalogueModel, body: Any, raw_body: bytes) -> dict[str, Any]:
    """{"audio": [uint8…]}, {"audio": "<base64>"} (turbo) or a raw binary body (whisper, tiny-en)."""
    if isinstance(body, dict) and isinstance(body.get("audio"), list):
        size = len(body["audio"])
    elif isinstance(body, dict):
        size = len(base64.b64decode(body["audio"]))
    else:
        size = len(raw_body)
    task = body.get("task", "transcribe") if isinstance(body, dict) else "transcribe"
    verb = "translation" if task == "translate" else "transcription"
    text = f"Emulated {verb} of {size} bytes of audio."
    words = [
        {"word": w, "start": i * SECONDS_PER_WORD, "end": (i + 1) * SECONDS_PER_WORD}
        for i, w in enumerate(text.split())
    ]
    duration = len(words) * SECONDS_PER_WORD
    vtt = f"WEBVTT\n\n{_timestamp(0)} --> {_timestamp(duration)}\n{text}\n\n"
    if model.family == "whisper":
        return {"text": text, "word_count": len(words), "words": words, "vtt": vtt}
    language = body.get("language") or "en"
    return {
        "transcription_info": {
            "language": language,
            "language_probability": 1.0,
            "duration": duration,
            "duration_after_vad": duration,
        },
        "text": text,
        "word_count": len(words),
        "segments": [
            {
                "start": 0.0,
                "end": duration,
                "text": text,
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
                "words": words,
            }
        ],
        "vtt": vtt,
    }


# One MPEG-1 Layer III frame, 128 kbit/s, 44.1 kHz, mono: a 4-byte header then 413 zero bytes
# (side information and main data all zero = silence). 144 * 128000 / 44100 = 417 bytes a frame.
_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0xC4]) + bytes(413)
_FRAMES_PER_WORD = 4


def melotts_result(body: dict[str, Any]) -> dict[str, Any]:
    frames = max(8, _FRAMES_PER_WORD * len(body["prompt"].split()))
    return {"audio": base64.b64encode(_MP3_FRAME * frames).decode("ascii")}


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _grey_jpeg() -> bytes:
    """A baseline 8×8 greyscale JPEG: one block whose DC and AC are all zero (mid-grey).

    Each Huffman table holds a single one-bit code ("0") for symbol 0, so the scan is the bits
    "0" (DC difference category 0) and "0" (end of block), padded with ones: 0x3F.
    """
    one_code = bytes([1] + [0] * 15) + b"\x00"
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + bytes([1] * 64)),
            _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),
            _segment(0xC4, b"\x00" + one_code),
            _segment(0xC4, b"\x10" + one_code),
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",
            b"\xff\xd9",
        ]
    )


GREY_JPEG = _grey_jpeg()


def flux_result(body: dict[str, Any]) -> dict[str, Any]:
    return {"image": base64.b64encode(GREY_JPEG).decode("ascii")}
