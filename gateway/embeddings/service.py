"""Embeddings: the inputs sent upstream in batches the model takes, on one route for all of them.

A fallback route redoes every batch, so the vectors of one answer always come from one model; and
only routes whose vectors have the first route's length are fallbacks at all, since vectors of
another size would be useless next to the ones a client already stored.
"""

from __future__ import annotations

from gateway.accounting.entry import UsageEntry
from gateway.accounting.tokens import estimate_text_tokens
from gateway.catalog.fallbacks import with_fallbacks
from gateway.catalog.routes import RouteTarget
from gateway.embeddings.request import EmbeddingsRequest
from gateway.errors import invalid
from gateway.providers.base import EmbeddingRequest, ProviderError
from gateway.providers.registry import embedding_provider_for

Vector = tuple[float, ...]


def _not_matryoshka(body: EmbeddingsRequest, size: int) -> None:
    if body.dimensions is not None and body.dimensions != size:
        raise invalid(
            f"`{body.model}` returns vectors of {size} dimensions and cannot shorten them; "
            f"'dimensions' must be {size} or left out, not {body.dimensions}.",
            param="dimensions",
            code="dimensions_not_supported",
        )


def _same_size(body: EmbeddingsRequest, targets: tuple[RouteTarget, ...]) -> tuple[RouteTarget, ...]:
    size = targets[0].output_dimensions
    if size is None:
        return targets[:1]  # no known size to match fallbacks against
    _not_matryoshka(body, size)
    return tuple(target for target in targets if target.output_dimensions == size)


def embed(body: EmbeddingsRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> list[Vector]:
    """One vector per input, in input order; usage is the gateway's estimate (none comes back)."""

    def call(target: RouteTarget) -> list[Vector]:
        provider = embedding_provider_for(target.provider.config())
        vectors: list[Vector] = []
        try:
            for start in range(0, len(body.inputs), provider.embedding_batch):
                batch = body.inputs[start : start + provider.embedding_batch]
                vectors.extend(provider.embed(EmbeddingRequest(model=target.upstream_model, texts=batch)).vectors)
        except ProviderError:
            # Several batches: those embedded before the failure were paid for (estimated, as all are).
            embedded = sum(estimate_text_tokens(text) for text in body.inputs[: len(vectors)])
            entry.spent_by_failed_attempt(embedded, 0, estimated=True)
            raise
        return vectors

    vectors = with_fallbacks(_same_size(body, targets), entry, call)
    _not_matryoshka(body, len(vectors[0]))  # a route whose size was not known beforehand
    entry.prompt_tokens, entry.usage_estimated = body.prompt_tokens, True
    return vectors
