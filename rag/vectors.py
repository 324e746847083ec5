"""Checking embedding vectors, and writing them in pgvector's text ("[1,2,3]") and binary forms."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from rag.models import SUPPORTED_DIMENSIONS


def check_dimensions(dimensions: int) -> int:
    if dimensions not in SUPPORTED_DIMENSIONS:
        supported = ", ".join(map(str, SUPPORTED_DIMENSIONS))
        raise ValueError(f"vectors of {dimensions} dimensions are not supported (supported: {supported})")
    return dimensions


def vector_text(values: Sequence[float], *, what: str = "vector") -> str:
    """pgvector's text input, for a query parameter (`%s::vector(768)`)."""
    floats = _checked(values, what)
    return "[" + ",".join(map(repr, floats)) + "]"


def vector_binary(values: Sequence[float], *, what: str = "vector") -> bytes:
    """pgvector's binary form (its `vector_send`: 16-bit dimensions, 16 unused bits, big-endian
    float4s, https://github.com/pgvector/pgvector/blob/master/src/vector.c), for COPY."""
    floats = _checked(values, what)
    try:
        return struct.pack(f"!HH{len(floats)}f", len(floats), 0, *floats)
    except (OverflowError, struct.error) as exc:
        raise ValueError(f"{what} has a value too large for a 32-bit float") from exc


def _checked(values: Sequence[float], what: str) -> list[float]:
    """Refuses what pgvector would refuse or could not compare: values that are not finite
    (pgvector rejects NaN and infinity), and a zero vector, whose cosine distance to anything is NaN
    (pgvector README, "Distances")."""
    floats = [float(value) for value in values]
    if not all(map(math.isfinite, floats)):
        raise ValueError(f"{what} has a value that is not a finite number")
    if not any(floats):
        raise ValueError(f"{what} is all zeros: its cosine similarity is undefined")
    return floats
