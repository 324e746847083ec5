"""Workers AI text embeddings: `{"text": [...]}` in, `{"shape": [n, d], "data": [[...], ...]}` out.

The bge models take at most 100 texts per call, each non-empty
(https://developers.cloudflare.com/workers-ai/models/bge-base-en-v1.5/, Input and Output).
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import EmbeddingResult
from gateway.providers.embedding_vectors import checked_vectors

EMBEDDING_BATCH = 100


def parse_embeddings(result: Any, expected: int) -> EmbeddingResult:
    """The vectors of an answer's `data`, one per text sent, all of one length and finite."""
    data = result.get("data") if isinstance(result, dict) else None
    return EmbeddingResult(vectors=checked_vectors(data, expected))
