"""The RAG endpoints: /v1/rag/documents (POST, GET), /v1/rag/documents/{id} (GET, DELETE),
/v1/rag/search and /v1/rag/chat.

Every one acts for the key's owner only: another owner's document is a 404, as if it did not exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema_view
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.errors import GatewayError, invalid
from gateway.http.generation_view import GenerationView
from gateway.http.input_limits import LimitedJSONParser
from gateway.http.metered_view import MeteredView
from gateway.http.responses import SettledResponse
from gateway.models import Task
from rag import openapi, render, service, store
from rag.models import DEFAULT_NAMESPACE
from rag.request import (
    DocumentRequest,
    RagChatRequest,
    SearchRequest,
    parse_document_request,
    parse_rag_chat_request,
    parse_search_request,
    writable_namespace,
)


def _not_found(document_id: str) -> GatewayError:
    return GatewayError(404, f"No document `{document_id}` in this namespace.", code="document_not_found")


def _queried_namespace(request: Request) -> str | None:
    namespace = request.query_params.get("namespace")
    if namespace is not None and "\x00" in namespace:
        raise invalid("'namespace' may not contain the NUL character.", param="namespace")
    return namespace


@extend_schema_view(post=openapi.CREATE_DOCUMENT, get=openapi.LIST_DOCUMENTS)
class DocumentsView(MeteredView):
    endpoint = "rag.documents"
    task = Task.EMBEDDING
    # JSON bodies, and files as multipart uploads (rag/request.py parse_upload).
    parser_classes = [LimitedJSONParser, MultiPartParser]

    def parse(self, data: Any) -> DocumentRequest:
        return parse_document_request(data)

    def answer(
        self,
        request: Request,
        body: DocumentRequest,
        targets: tuple[RouteTarget, ...],
        entry: UsageEntry,
        started: float,
    ) -> HttpResponseBase:
        owner_id = service.owner_of(request.user)
        if body.from_file and len(body.text) > settings.GATEWAY_RAG_SYNC_MAX_CHARS:
            document = service.ingest_later(body, targets, entry, owner_id)
            entry.status, entry.latency_ms = 202, int((time.monotonic() - started) * 1000)
            body_202 = render.ingested_body(document)
            return SettledResponse(body_202, entry, status=202, headers=entry.admission.headers)
        document = service.ingest(body, targets, entry, owner_id)
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(render.ingested_body(document), entry, headers=entry.admission.headers)

    def get(self, request: Request) -> Response:
        owner_id = service.owner_of(request.user)
        limit = request.query_params.get("limit", "20")
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= store.MAX_LIST_LIMIT:
            raise invalid(f"'limit' must be a whole number from 1 to {store.MAX_LIST_LIMIT}.", param="limit")
        try:
            page = store.list_documents(
                owner_id,
                namespace=_queried_namespace(request),
                limit=int(limit),
                cursor=request.query_params.get("cursor"),
            )
        except ValueError as exc:
            raise invalid(f"'cursor' is not one this endpoint gave: {exc}.", param="cursor") from exc
        return Response(render.page_body(page))


@extend_schema_view(get=openapi.RETRIEVE_DOCUMENT, delete=openapi.DELETE_DOCUMENT)
class DocumentDetailView(APIView):
    def _where(self, request: Request, document_id: str) -> dict[str, Any]:
        if "\x00" in document_id:  # no document has it (and Postgres cannot compare it)
            raise _not_found(document_id)
        return {"namespace": _queried_namespace(request) or DEFAULT_NAMESPACE, "external_id": document_id}

    def get(self, request: Request, document_id: str) -> Response:
        owner_id = service.owner_of(request.user)
        document = store.get_document(owner_id, **self._where(request, document_id))
        if document is None:
            raise _not_found(document_id)
        return Response(render.document_body(document))

    def delete(self, request: Request, document_id: str) -> Response:
        owner_id = service.owner_of(request.user)
        where = self._where(request, document_id)
        writable_namespace(where["namespace"])
        if not store.delete_document(owner_id, **where):
            raise _not_found(document_id)
        return Response({"object": "rag.document.deleted", "document_id": document_id, "deleted": True})


@extend_schema_view(post=openapi.SEARCH)
class SearchView(MeteredView):
    endpoint = "rag.search"
    task = Task.EMBEDDING

    def parse(self, data: Any) -> SearchRequest:
        return parse_search_request(data)

    def answer(
        self, request: Request, body: SearchRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        hits = service.retrieve(body, targets, entry, service.owner_of(request.user))
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(render.search_body(body.query, hits), entry, headers=entry.admission.headers)


@extend_schema_view(post=openapi.CHAT)
class RagChatView(GenerationView):
    endpoint = "rag.chat"
    task = Task.CHAT

    def parse(self, data: Any) -> RagChatRequest:
        return parse_rag_chat_request(data)

    def complete(self, body: RagChatRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        result, hits = service.answer(body, targets, entry, self.request.user)
        return {**result, "rag_sources": [render.source_of(hit) for hit in hits]}

    def open_stream(
        self, body: RagChatRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return service.answer_stream(body, targets, entry, started, self.request.user)
