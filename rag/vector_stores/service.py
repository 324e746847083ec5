"""Vector stores' work, no HTTP: stores, their files and batches, ingestion's start, and search.

Every function takes the owner and touches that owner's rows only; another owner's id is a 404
worded as OpenAI words it. A store's file is the RAG document (owner, "vs_…", "file-…")
(rag/vector_store_models.py), so removing a file from a store deletes that document and its
chunks, and deleting a store deletes its documents but not the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from gateway import job_queue
from gateway.accounting.entry import UsageEntry
from gateway.accounting.handoff import hand_off
from gateway.catalog.routes import RouteTarget
from gateway.embeddings import service as embeddings
from gateway.embeddings.request import EmbeddingsRequest
from gateway.errors import GatewayError, invalid
from rag import search as chunk_search
from rag.models import Chunk, Document, FileBatch, StoredFile, VectorStore, VectorStoreFile
from rag.vector_stores.request import AddFiles, FileSpec, StoreFields, StoreSearch

Status = VectorStoreFile.Status


def not_found(kind: str, object_id: str, param: str | None = None) -> GatewayError:
    return GatewayError(404, f"No {kind} found with id '{object_id}'.", param=param, code="not_found")


# --- stores --------------------------------------------------------------------------------------


def _expiry(store: VectorStore) -> None:
    days = (store.expires_after or {}).get("days")
    store.expires_at = store.last_active_at + timedelta(days=days) if days else None


def create_store(owner_id: int, fields: StoreFields) -> VectorStore:
    store = VectorStore(
        owner_id=owner_id,
        name=fields.name or "",
        metadata=fields.metadata or {},
        embedding_model=settings.GATEWAY_RAG_EMBEDDING_MODEL,
        expires_after=fields.expires_after,
    )
    _expiry(store)
    store.save(force_insert=True)
    return store


def get_store(owner_id: int, store_id: str) -> VectorStore:
    store = VectorStore.objects.filter(owner_id=owner_id, pk=store_id).first()
    if store is None:
        raise not_found("vector store", store_id)
    return store


def stores_of(owner_id: int) -> QuerySet[VectorStore]:
    return VectorStore.objects.filter(owner_id=owner_id)


def update_store(owner_id: int, store_id: str, fields: StoreFields) -> VectorStore:
    with transaction.atomic():
        store = VectorStore.objects.select_for_update().filter(owner_id=owner_id, pk=store_id).first()
        if store is None:
            raise not_found("vector store", store_id)
        if fields.name is not None:
            store.name = fields.name
        if fields.metadata is not None:
            store.metadata = fields.metadata
        if fields.expires_after_given:
            store.expires_after = fields.expires_after
            _expiry(store)
        store.save()
    return store


def delete_store(owner_id: int, store_id: str) -> None:
    with transaction.atomic():
        deleted, _ = VectorStore.objects.filter(owner_id=owner_id, pk=store_id).delete()
        if not deleted:
            raise not_found("vector store", store_id)
        Document.objects.filter(owner_id=owner_id, namespace=store_id).delete()


def expired(store: VectorStore) -> bool:
    return store.expires_at is not None and store.expires_at <= timezone.now()


TOUCH_EVERY = timedelta(minutes=1)


def touch(store: VectorStore) -> None:
    """Used now: expiry counts from here (`expires_after.anchor` last_active_at). Written at most
    once a minute, so a busy store's searches do not each pay for an UPDATE."""
    now = timezone.now()
    if now - store.last_active_at < TOUCH_EVERY:
        return
    store.last_active_at = now
    _expiry(store)
    VectorStore.objects.filter(pk=store.pk).update(last_active_at=store.last_active_at, expires_at=store.expires_at)


@dataclass(frozen=True)
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    usage_bytes: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled


def _counts(files: QuerySet[VectorStoreFile], group: str) -> dict[str, FileCounts]:
    counted = {name: Count("pk", filter=Q(status=name)) for name in Status.values}
    rows = files.values(group).annotate(**counted, usage=Coalesce(Sum("usage_bytes"), 0)).order_by()
    return {
        row[group]: FileCounts(**{name: row[name] for name in Status.values}, usage_bytes=row["usage"]) for row in rows
    }


def store_counts(store_ids: list[str]) -> dict[str, FileCounts]:
    """Per store, one statement for a whole page of them."""
    return _counts(VectorStoreFile.objects.filter(vector_store_id__in=store_ids), "vector_store_id")


def batch_counts(batch: FileBatch) -> FileCounts:
    return _counts(VectorStoreFile.objects.filter(batch=batch), "batch_id").get(batch.pk, FileCounts())


# --- files in a store ----------------------------------------------------------------------------


def files_to_add(owner_id: int, model: str, specs: tuple[FileSpec, ...], *, param: str = "file_ids") -> AddFiles:
    """The metered request for `specs`: each file must be the owner's (404 naming it otherwise;
    `param` "file_id" for a single add)."""
    sizes = dict(
        StoredFile.objects.filter(owner_id=owner_id, pk__in=[s.file_id for s in specs]).values_list("pk", "bytes")
    )
    for n, spec in enumerate(specs):
        if spec.file_id not in sizes:
            raise not_found("file", spec.file_id, param=param if param == "file_id" else f"{param}[{n}]")
    return AddFiles(model=model, files=specs, sizes=tuple(sizes[spec.file_id] for spec in specs))


def begin_ingestion(store: VectorStore, body: AddFiles, entry: UsageEntry, *, visible: bool) -> FileBatch:
    """The batch and its files `in_progress`, one task per file queued once committed. The
    request's usage is handed to the batch: its last file to end writes the one record."""
    entry.upstream_model = entry.upstream_model or store.embedding_model
    with transaction.atomic():
        batch = FileBatch.objects.create(vector_store=store, visible=visible, pending=len(body.files))
        rows = []
        for spec in body.files:
            row, _ = VectorStoreFile.objects.update_or_create(
                vector_store=store,
                file_id=spec.file_id,
                defaults={
                    "batch": batch,
                    "status": Status.IN_PROGRESS,
                    "last_error": None,
                    "usage_bytes": 0,
                    "attributes": spec.attributes,
                    "chunking_strategy": spec.chunking,
                    "created_at": timezone.now(),
                },
            )
            rows.append(row)
        batch.ticket = hand_off(entry, seconds=settings.GATEWAY_VECTOR_STORE_INGEST_DEADLINE_SECONDS)
        batch.save(update_fields=["ticket"])
        pks, batch_id = [row.pk for row in rows], batch.pk
        transaction.on_commit(lambda: _enqueue(pks, batch_id))
    touch(store)
    return batch


def _enqueue(pks: list[int], batch_id: str) -> None:
    """One task per file, once the rows are committed. Files that cannot be queued end failed at
    once with OpenAI's `server_error`, counting down their batch; the request is answered as usual,
    its files showing why (gateway/job_queue.py)."""
    from rag.tasks import ingest_store_file  # the task module imports the ingestion module
    from rag.vector_stores import ingestion

    def fail(unqueued: list[int]) -> None:
        failed = ingestion.FileFailed("server_error", job_queue.UNQUEUED)
        for row in VectorStoreFile.objects.select_related("vector_store").filter(pk__in=unqueued):
            ingestion.finish(row, batch_id, error=failed, outcome=ingestion.Outcome())

    job_queue.queue_or_fail(pks, lambda pk: ingest_store_file.delay(pk, batch_id), fail)


def store_files(store: VectorStore) -> QuerySet[VectorStoreFile]:
    return VectorStoreFile.objects.filter(vector_store=store).select_related("file")


def get_store_file(store: VectorStore, file_id: str) -> VectorStoreFile:
    row = store_files(store).filter(file_id=file_id).first()
    if row is None:
        raise not_found("file", file_id)
    return row


def update_attributes(store: VectorStore, file_id: str, attributes: dict[str, Any]) -> VectorStoreFile:
    """New attributes, on the row and on the chunks that are filtered by them, at once."""
    with transaction.atomic():
        row = get_store_file(store, file_id)
        row.attributes = attributes
        row.save(update_fields=["attributes"])
        where = {"owner_id": store.owner_id, "namespace": store.pk}
        Document.objects.filter(**where, external_id=file_id).update(metadata=attributes)
        Chunk.objects.filter(**where, document__external_id=file_id).update(metadata=attributes)
    return row


def remove_file(store: VectorStore, file_id: str) -> None:
    """The file leaves the store (its chunks go; the file stays). A task still embedding it sees
    the row gone and drops what it made (rag/vector_stores/ingestion.py)."""
    with transaction.atomic():
        deleted, _ = VectorStoreFile.objects.filter(vector_store=store, file_id=file_id).delete()
        if not deleted:
            raise not_found("file", file_id)
        Document.objects.filter(owner_id=store.owner_id, namespace=store.pk, external_id=file_id).delete()


def get_batch(store: VectorStore, batch_id: str) -> FileBatch:
    batch = FileBatch.objects.filter(vector_store=store, pk=batch_id, visible=True).first()
    if batch is None:
        raise not_found("file batch", batch_id)
    return batch


def cancel_batch(store: VectorStore, batch_id: str) -> FileBatch:
    """Files not yet embedded end `cancelled`; their tasks then do nothing (or drop their work)."""
    with transaction.atomic():
        batch = get_batch(store, batch_id)
        batch.cancelled_at = batch.cancelled_at or timezone.now()
        batch.save(update_fields=["cancelled_at"])
        VectorStoreFile.objects.filter(batch=batch, status=Status.IN_PROGRESS).update(status=Status.CANCELLED)
    return batch


def batch_status(batch: FileBatch, counts: FileCounts) -> str:
    if counts.in_progress:
        return "cancelling" if batch.cancelled_at else "in_progress"
    if batch.cancelled_at:
        return "cancelled"
    return "failed" if counts.failed and not counts.completed else "completed"


# --- search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any]
    text: str


def search(store: VectorStore, body: StoreSearch, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> list[Result]:
    """The store's best chunks for the queries (each query embedded, hits merged by best score)."""
    if expired(store):
        raise invalid(f"Vector store '{store.pk}' has expired.", code="vector_store_expired")
    vectors = embeddings.embed(EmbeddingsRequest(model=body.model, inputs=body.queries), targets, entry)
    best: dict[tuple[int, int], chunk_search.Hit] = {}
    for vector in vectors:
        try:
            hits = chunk_search.search(
                owner_id=store.owner_id,
                query_vector=vector,
                dimensions=len(vector),
                top_k=body.max_num_results,
                score_threshold=body.score_threshold,
                namespace=store.pk,
                attribute_filter=body.filters,
            )
        except ValueError as exc:
            raise invalid(f"The search cannot run: {exc}.") from exc
        for hit in hits:
            key = (hit.document_pk, hit.chunk_index)
            if key not in best or best[key].score < hit.score:
                best[key] = hit
    ranked = sorted(best.values(), key=lambda hit: (-hit.score, hit.document_pk, hit.chunk_index))
    touch(store)
    # A store file's document is titled with the file's name (ingestion.py). OpenAI's scores run from
    # 0 to 1; a cosine similarity below 0 (an unrelated chunk) shows as 0.
    return [
        Result(hit.document_id, hit.title, max(0.0, hit.score), hit.metadata, hit.text)
        for hit in ranked[: body.max_num_results]
    ]
