"""Deterministic outputs of the embedding task (speech is in speech.py, images in image_models.py).

Shapes follow the Workers AI embedding model pages (https://developers.cloudflare.com/workers-ai/models/,
e.g. /bge-base-en-v1.5/).
"""

from __future__ import annotations

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
