"""Workers AI text embeddings: `{"text": [...]}` in, `{"shape": [n, d], "data": [[...], ...]}` out.

The bge models take at most 100 texts per call, each non-empty
(https://developers.cloudflare.com/workers-ai/models/bge-base-en-v1.5/, Input and Output).
"""

from __future__ import annotations

import math
from typing import Any

from gateway.providers.base import EmbeddingResult, ProviderError

EMBEDDING_BATCH = 100


def parse_embeddings(result: Any, expected: int) -> EmbeddingResult:
    """The vectors of an answer, one per text sent, all of one length and finite."""
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise ProviderError("upstream", f"Upstream error: {got} embeddings for {expected} texts.")
    vectors = []
    for row in data:
        if not isinstance(row, list) or not row or not all(isinstance(value, int | float) for value in row):
            raise ProviderError("upstream", "Upstream error: an embedding is not a list of numbers.")
        vector = tuple(float(value) for value in row)
        if not all(math.isfinite(value) for value in vector):
            raise ProviderError("upstream", "Upstream error: an embedding holds a non-finite number.")
        vectors.append(vector)
    if len({len(vector) for vector in vectors}) > 1:
        raise ProviderError("upstream", "Upstream error: embeddings of different lengths in one answer.")
    return EmbeddingResult(vectors=tuple(vectors))
