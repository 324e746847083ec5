"""The body of POST /v1/embeddings, validated into a typed request.

Fields are those of https://platform.openai.com/docs/api-reference/embeddings/create: `input` (a
string or up to 2048 of them, or token ids, which mean nothing to the upstream models and are
decoded with the client's OpenAI tokenizer: gateway/embeddings/tokens.py), `model`,
`encoding_format` (float or base64; the openai SDKs ask for base64 by default) and `dimensions`.
`user` and unknown fields are ignored, as on chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_text_tokens
from gateway.catalog.routes import RouteTarget
from gateway.embeddings.tokens import decode_inputs
from gateway.errors import invalid
from gateway.http.request_fields import parse_integer, parse_model

MAX_INPUTS = 2048  # OpenAI's limit on the array form
ENCODINGS = ("float", "base64")
_SHAPE = "'input' must be a string or an array of strings."


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    inputs: tuple[str, ...]  # one embedding each, `index` in this order
    encoding_format: str = "float"
    dimensions: int | None = None

    @property
    def deterministic(self) -> bool:
        """An embedding model answers the same text with the same vector: always worth caching."""
        return True

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(prompt_tokens=self.prompt_tokens)

    @property
    def prompt_tokens(self) -> int:
        return sum(estimate_text_tokens(text) for text in self.inputs)


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    )


def _inputs(raw: Any, model: str) -> tuple[str, ...]:
    if raw is None:
        raise invalid("You must provide 'input'.", param="input")
    single = isinstance(raw, str) or _is_tokens(raw)
    if _is_tokens(raw):
        items = list(decode_inputs(model, [raw], single=True))
    elif isinstance(raw, list) and raw and all(_is_tokens(item) for item in raw):
        if len(raw) > MAX_INPUTS:
            raise invalid(f"'input' may hold at most {MAX_INPUTS} token arrays; got {len(raw)}.", param="input")
        items = list(decode_inputs(model, raw, single=False))
    elif isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        if len(raw) > MAX_INPUTS:
            raise invalid(f"'input' may hold at most {MAX_INPUTS} strings; got {len(raw)}.", param="input")
        items = raw
    else:
        raise invalid(_SHAPE, param="input")
    for index, text in enumerate(items):
        if not text.strip():
            where = "input" if single else f"input[{index}]"
            raise invalid(f"'{where}' is empty: every input must hold some text.", param=where)
    return tuple(items)


def parse_embeddings_request(data: Any) -> EmbeddingsRequest:
    model = parse_model(data)
    encoding = data.get("encoding_format")
    if encoding is None:
        encoding = "float"
    elif encoding not in ENCODINGS:
        raise invalid(f"'encoding_format' must be 'float' or 'base64'; got {encoding!r}.", param="encoding_format")
    return EmbeddingsRequest(
        model=model,
        inputs=_inputs(data.get("input"), model),
        encoding_format=encoding,
        dimensions=parse_integer(data, "dimensions", 1),
    )
