"""Shared helpers of the RAG tests: owners, hand-made unit vectors, stored documents."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth import get_user_model

from rag.models import Document
from rag.store import ChunkInput, replace_document

DIMS = 384


def owner(name: str) -> int:
    user, _ = get_user_model().objects.get_or_create(username=f"rag-{name}")
    return user.pk


def unit(*components: float, dimensions: int = DIMS) -> list[float]:
    """The normalised vector whose first coordinates are `components` (the rest 0)."""
    norm = math.sqrt(sum(value * value for value in components))
    return [value / norm for value in components] + [0.0] * (dimensions - len(components))


def axis(position: int, dimensions: int = DIMS) -> list[float]:
    return unit(*([0.0] * position), 1.0, dimensions=dimensions)


def put(
    owner_id: int,
    external_id: str,
    chunks: list[tuple[str, list[float]]],
    *,
    namespace: str = "default",
    metadata: dict[str, Any] | None = None,
    title: str = "",
) -> Document:
    return replace_document(
        owner_id=owner_id,
        namespace=namespace,
        external_id=external_id,
        title=title,
        metadata=metadata or {},
        source_hash="0" * 64,
        embedding_model="@cf/baai/bge-small-en-v1.5",
        chunks=[ChunkInput(text=text, vector=vector) for text, vector in chunks],
    )
