"""OpenAI's embedding list, in either encoding
(https://platform.openai.com/docs/api-reference/embeddings/object).

base64 is the vector's little-endian float32 bytes, standard padded base64 — what the openai SDKs
decode by default. The float form carries the same float32 values, so both encodings give a client
exactly the same numbers.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any


def as_float32(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def _encoded(vector: Sequence[float], encoding_format: str) -> list[float] | str:
    packed = as_float32(vector)
    if encoding_format == "base64":
        return base64.b64encode(packed).decode("ascii")
    return list(struct.unpack(f"<{len(vector)}f", packed))


def embeddings_body(
    model: str, vectors: Sequence[Sequence[float]], encoding_format: str, prompt_tokens: int
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding_format)}
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
