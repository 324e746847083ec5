"""An embeddings answer's matrix of vectors, checked against the texts sent.

Each adapter takes the rows out of its own answer shape (Workers AI's `{shape, data}`, OpenAI's
`data: [{index, embedding}]`); what a usable matrix is does not depend on the upstream.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.providers.base import ProviderError


def checked_vectors(rows: Any, expected: int) -> tuple[tuple[float, ...], ...]:
    """The vectors `rows` holds, one per text sent, all of one length and finite."""
    if not isinstance(rows, list) or len(rows) != expected:
        got = len(rows) if isinstance(rows, list) else "no"
        raise ProviderError("upstream", f"Upstream error: {got} embeddings for {expected} texts.")
    vectors = []
    for row in rows:
        if not isinstance(row, list) or not row or not all(isinstance(value, int | float) for value in row):
            raise ProviderError("upstream", "Upstream error: an embedding is not a list of numbers.")
        vector = tuple(float(value) for value in row)
        if not all(math.isfinite(value) for value in vector):
            raise ProviderError("upstream", "Upstream error: an embedding holds a non-finite number.")
        vectors.append(vector)
    if len({len(vector) for vector in vectors}) > 1:
        raise ProviderError("upstream", "Upstream error: embeddings of different lengths in one answer.")
    return tuple(vectors)
