"""Deterministic outputs of the embedding and image tasks (speech is in speech.py).

Shapes follow the Workers AI model pages (https://developers.cloudflare.com/workers-ai/models/:
embeddings, images). The image is tiny but well-formed (a grey 8×8 JPEG) so that a gateway which
sniffs magic bytes or decodes it gets something real.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
from typing import Any

from .catalogue import CatalogueModel


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
