"""/v1/vector_stores: stores, their files and file batches, and search.

Adding files (to a new store, one by one or in a batch) and searching are metered on the store's
embedding model: limits and budgets admit them, and each request leaves one usage record — an
ingestion's once its last file is embedded (rag/vector_stores/ingestion.py). The rest read and
write rows only. Everything acts for the key's owner (rag.service.owner_of).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.http.metered_view import MeteredView
from gateway.http.responses import SettledResponse
from gateway.models import Task
from rag.list_pages import list_body, page, parse_list_query
from rag.models import VectorStore, VectorStoreFile
from rag.service import owner_of
from rag.vector_stores import openapi, render, service
from rag.vector_stores.request import (
    AddFiles,
    CreateWithFiles,
    StoreSearch,
    body_object,
    parse_attributes_update,
    parse_file_specs,
    parse_search,
    parse_store_create,
    parse_store_update,
)

# While a file or batch is embedded, the SDK's *_and_poll helpers wait this long between GETs
# (the header OpenAI sends; without it they wait a second).
POLL_AFTER = {"openai-poll-after-ms": "250"}


def _store_body(store: VectorStore) -> dict[str, Any]:
    return render.store_body(store, service.store_counts([store.pk]).get(store.pk, service.FileCounts()))


def _file_list(request: Request, rows: Any) -> Response:
    status = request.query_params.get("filter")
    if status is not None:
        if status not in VectorStoreFile.Status.values:
            raise invalid("'filter' must be in_progress, completed, failed or cancelled.", param="filter")
        rows = rows.filter(status=status)
    found, more = page(rows, parse_list_query(request.query_params), key="file_id")
    return Response(list_body(found, more, render.store_file_body))


class _StoreMetered(MeteredView):
    """A metered request on one of the owner's stores (looked up while parsing, so a missing store
    is answered inside the frame and recorded)."""

    task = Task.EMBEDDING
    store: VectorStore

    def post(self, request: Request, **kwargs: Any) -> HttpResponseBase:
        return super().post(request)

    def _store(self) -> VectorStore:
        self.store = service.get_store(owner_of(self.request.user), self.kwargs["vector_store_id"])
        return self.store

    def _addable(self) -> VectorStore:
        store = self._store()
        if service.expired(store):
            raise invalid(f"Vector store '{store.pk}' has expired.", code="vector_store_expired")
        return store


@extend_schema_view(get=openapi.LIST_STORES, post=openapi.CREATE_STORE)
class VectorStoresView(_StoreMetered):
    endpoint = "vector_stores"

    def get(self, request: Request) -> Response:
        found, more = page(service.stores_of(owner_of(request.user)), parse_list_query(request.query_params))
        counts = service.store_counts([store.pk for store in found])
        return Response(list_body(found, more, lambda s: render.store_body(s, counts.get(s.pk, service.FileCounts()))))

    def post(self, request: Request, **kwargs: Any) -> HttpResponseBase:
        data = body_object(request.data)
        if not data.get("file_ids"):  # nothing to embed: no model call, no usage record
            store = service.create_store(owner_of(request.user), parse_store_create(data))
            return Response(_store_body(store))
        return super().post(request)

    def parse(self, data: Any) -> CreateWithFiles:
        fields = parse_store_create(data)
        model = settings.GATEWAY_RAG_EMBEDDING_MODEL  # what create_store gives the store
        return CreateWithFiles(fields, service.files_to_add(owner_of(self.request.user), model, fields.files))

    def answer(
        self,
        request: Request,
        body: CreateWithFiles,
        targets: tuple[RouteTarget, ...],
        entry: UsageEntry,
        started: float,
    ) -> HttpResponseBase:
        store = service.create_store(owner_of(request.user), body.fields)
        service.begin_ingestion(store, body.files, entry, visible=False)
        return Response(_store_body(store), headers=entry.admission.headers)


@extend_schema_view(get=openapi.RETRIEVE_STORE, post=openapi.MODIFY_STORE, delete=openapi.DELETE_STORE)
class VectorStoreDetailView(APIView):
    def get(self, request: Request, vector_store_id: str) -> Response:
        return Response(_store_body(service.get_store(owner_of(request.user), vector_store_id)))

    def post(self, request: Request, vector_store_id: str) -> Response:
        store = service.update_store(owner_of(request.user), vector_store_id, parse_store_update(request.data))
        return Response(_store_body(store))

    def delete(self, request: Request, vector_store_id: str) -> Response:
        service.delete_store(owner_of(request.user), vector_store_id)
        return Response(render.deleted_body(vector_store_id, "vector_store"))


@extend_schema_view(get=openapi.LIST_FILES, post=openapi.ADD_FILE)
class VectorStoreFilesView(_StoreMetered):
    endpoint = "vector_stores.files"

    def get(self, request: Request, vector_store_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        return _file_list(request, service.store_files(store))

    def parse(self, data: Any) -> AddFiles:
        store = self._addable()
        data = body_object(data)
        if not isinstance(data.get("file_id"), str):
            raise invalid("You must provide 'file_id'.", param="file_id")
        specs = parse_file_specs({**data, "file_ids": [data["file_id"]]})
        return service.files_to_add(store.owner_id, store.embedding_model, specs, param="file_id")

    def answer(
        self, request: Request, body: AddFiles, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        service.begin_ingestion(self.store, body, entry, visible=False)
        row = service.get_store_file(self.store, body.files[0].file_id)
        return Response(render.store_file_body(row), headers=entry.admission.headers)


@extend_schema_view(get=openapi.RETRIEVE_FILE, post=openapi.UPDATE_FILE, delete=openapi.DELETE_FILE)
class VectorStoreFileDetailView(APIView):
    def get(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        body = render.store_file_body(service.get_store_file(store, file_id))
        return Response(body, headers=POLL_AFTER if body["status"] == "in_progress" else None)

    def post(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        row = service.update_attributes(store, file_id, parse_attributes_update(request.data))
        return Response(render.store_file_body(row))

    def delete(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        service.remove_file(service.get_store(owner_of(request.user), vector_store_id), file_id)
        return Response(render.deleted_body(file_id, "vector_store.file"))


@extend_schema_view(post=openapi.CREATE_BATCH)
class FileBatchesView(_StoreMetered):
    endpoint = "vector_stores.file_batches"

    def parse(self, data: Any) -> AddFiles:
        store = self._addable()
        data = body_object(data)
        if not data.get("file_ids") and not data.get("files"):
            raise invalid("You must provide 'file_ids' or 'files'.", param="file_ids")
        return service.files_to_add(store.owner_id, store.embedding_model, parse_file_specs(data))

    def answer(
        self, request: Request, body: AddFiles, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        batch = service.begin_ingestion(self.store, body, entry, visible=True)
        return Response(render.batch_body(batch, service.batch_counts(batch)), headers=entry.admission.headers)


@extend_schema_view(get=openapi.RETRIEVE_BATCH)
class FileBatchDetailView(APIView):
    def get(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        batch = service.get_batch(store, batch_id)
        body = render.batch_body(batch, service.batch_counts(batch))
        return Response(body, headers=POLL_AFTER if body["status"] in ("in_progress", "cancelling") else None)


@extend_schema_view(post=openapi.CANCEL_BATCH)
class FileBatchCancelView(APIView):
    def post(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        batch = service.cancel_batch(store, batch_id)
        return Response(render.batch_body(batch, service.batch_counts(batch)))


@extend_schema_view(get=openapi.LIST_BATCH_FILES)
class FileBatchFilesView(APIView):
    def get(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        store = service.get_store(owner_of(request.user), vector_store_id)
        batch = service.get_batch(store, batch_id)
        return _file_list(request, service.store_files(store).filter(batch=batch))


@extend_schema_view(post=openapi.SEARCH_STORE)
class VectorStoreSearchView(_StoreMetered):
    endpoint = "vector_stores.search"

    def parse(self, data: Any) -> StoreSearch:
        store = self._store()
        return parse_search(data, store.embedding_model)

    def answer(
        self, request: Request, body: StoreSearch, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        results = service.search(self.store, body, targets, entry)
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        return SettledResponse(render.search_body(body.queries, results), entry, headers=entry.admission.headers)
