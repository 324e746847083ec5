"""POST embeddings in the OpenAI-compatible mode (both bases): the inputs run through the
embedding model's own /ai/run input (`{"text": [...]}`, at most 100 texts per run, so a longer
list runs in batches) and leave in OpenAI's list shape with the same vectors /ai/run gives
(https://platform.openai.com/docs/api-reference/embeddings/create).

- encoding_format "base64": the vector as little-endian float32, standard base64 with padding, as
  the openai SDKs decode it (they ask for base64 by default).
- Token arrays (int[] or int[][]) have no text the emulator could recover (it has no tokenizer):
  each id stands for the word "t<id>", so equal arrays give equal vectors.
- `dimensions` below the model's size truncates and renormalises the vector (as OpenAI's
  text-embedding-3 models shorten theirs); above it is a 400.
- usage: prompt_tokens = the sum over inputs of ceil(characters / 4) (the emulator's token
  estimate, replies.py), total_tokens the same.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, checked, served_model
from .openai_errors import bad_input
from .replies import run_model
from .schema import BadInput, check_enum, check_number, check_string
from .validation import MAX_EMBEDDING_TEXTS, validate_input

EMBEDDING_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
MAX_INPUTS = 2048  # OpenAI's limit per request


def embeddings(call: OpenAICall) -> ModelReply:
    body = call.body
    check_fields(body, EMBEDDING_FIELDS, ("model", "input"))
    with checked():
        check_enum(body, "encoding_format", "", ("float", "base64"))
        check_number(body, "dimensions", "", 1, 10**6, integer=True)
        check_string(body, "user", "")
    texts = _texts(body["input"])
    model = served_model(call, "embeddings", ("embeddings",))
    size = model.output_dimensions or 768
    dimensions = body.get("dimensions", size)
    if dimensions > size:
        raise bad_input(f"This model's vectors have {size} dimensions; 'dimensions' cannot be {dimensions}.")
    vectors: list[list[float]] = []
    for start in range(0, len(texts), MAX_EMBEDDING_TEXTS):
        wa_input = {"text": texts[start : start + MAX_EMBEDDING_TEXTS]}
        try:
            validate_input(model, wa_input)
        except BadInput as exc:
            raise bad_input(str(exc), "input") from None
        vectors += run_model(model, wa_input, b"").result["data"]
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(_shortened(vector, dimensions), as_base64)}
        for i, vector in enumerate(vectors)
    ]
    tokens = sum(math.ceil(len(text) / 4) for text in texts)
    payload = {
        "object": "list",
        "data": data,
        "model": call.model_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return ModelReply(result=payload)


def _is_token_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(token) is int for token in value)


def _texts(raw: Any) -> list[str]:
    if isinstance(raw, str) or _is_token_array(raw):
        items = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, str) or _is_token_array(i) for i in raw):
        items = raw
    else:
        raise bad_input("'input' must be a string, a list of strings, or token arrays, and not empty.", "input")
    if len(items) > MAX_INPUTS:
        raise bad_input(f"'input' may hold at most {MAX_INPUTS} items, got {len(items)}.", "input")
    texts = [item if isinstance(item, str) else " ".join(f"t{token}" for token in item) for item in items]
    if any(not text for text in texts):
        raise bad_input("'input' cannot contain an empty string.", "input")
    return texts


def _shortened(vector: list[float], dimensions: int) -> list[float]:
    if dimensions >= len(vector):
        return vector
    head = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in head)) or 1.0
    return [v / norm for v in head]


def _encoded(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
