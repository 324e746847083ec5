"""POST /v1/embeddings."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.embeddings import openapi, service
from gateway.embeddings.render import embeddings_body
from gateway.embeddings.request import EmbeddingsRequest, parse_embeddings_request
from gateway.http.generation_view import CachedView
from gateway.models import Task


@extend_schema_view(post=openapi.CREATE)
class EmbeddingsView(CachedView):
    endpoint = "embeddings"
    task = Task.EMBEDDING

    def parse(self, data: Any) -> EmbeddingsRequest:
        return parse_embeddings_request(data)

    def complete(self, body: EmbeddingsRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        vectors = service.embed(body, targets, entry)
        return embeddings_body(body.model, vectors, body.encoding_format, entry.prompt_tokens)
