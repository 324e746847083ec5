"""One file of a vector store embedded, off the request (a Celery task, rag/tasks.py).

The file's bytes are read from the files storage, their text extracted (rag/extract.py: text,
Markdown, HTML, PDF), cut by the file's chunking strategy and embedded on the store's embedding
routes; the chunks replace the file's document in the store's namespace (rag/store.py). Then, in
one transaction holding the row's lock, the file ends `completed` — or, when it left the store or
its batch was cancelled meanwhile, what was made is deleted again. Whatever the outcome, the
batch's count of pending files drops, and the file that brings it to zero writes the request's one
usage record with the tokens every file embedded (gateway/accounting/handoff.py).

Chunk sizes are tokens at the gateway's estimate of 4 bytes a token; a size the embedding model's
input window cannot hold is cut to 3 characters a token of that window, so a chunk is never
truncated upstream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gateway.accounting.entry import UsageEntry
from gateway.accounting.handoff import settle_handed
from gateway.catalog.routes import RouteTarget, resolve_routes
from gateway.embeddings import service as embeddings
from gateway.embeddings.request import EmbeddingsRequest
from gateway.models import Task
from rag import store as documents
from rag.chunking import chunk_text
from rag.extract import ExtractionError, extract
from rag.files import service as files
from rag.files import storage as file_storage
from rag.models import Document, FileBatch, VectorStoreFile
from rag.store import ChunkInput

log = logging.getLogger(__name__)
Status = VectorStoreFile.Status
CHARS_PER_TOKEN = 4
CHARS_PER_WINDOW_TOKEN = 3


class FileFailed(Exception):
    """The file cannot be embedded: `code` and `message` become its last_error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Outcome:
    prompt_tokens: int = 0
    attempts: int = 0
    route_id: int | None = None


def chunk_sizes(chunking: dict, targets: tuple[RouteTarget, ...]) -> tuple[int, int]:
    """(size, overlap) in characters for the strategy, within the smallest window of the routes."""
    static = chunking.get("static") or {}
    size_tokens = int(static.get("max_chunk_size_tokens", 800))
    overlap_tokens = int(static.get("chunk_overlap_tokens", 400))
    size = size_tokens * CHARS_PER_TOKEN
    windows = [target.context_window for target in targets if target.context_window]
    if windows and size_tokens > min(windows):
        size = min(windows) * CHARS_PER_WINDOW_TOKEN
    overlap = min(overlap_tokens * CHARS_PER_TOKEN, size // 2)
    return size, overlap


def embed_file(row: VectorStoreFile, entry: UsageEntry) -> None:
    """Extract, chunk, embed and store the file's text as its document in the store's namespace.
    Raises FileFailed for the file's own faults, GatewayError for the upstream's."""
    stored = row.file
    try:
        data = files.read_content(stored)
    except file_storage.FileMissing as exc:
        raise FileFailed("invalid_file", "The file's content is gone.") from exc
    try:
        text = extract(data, filename=stored.filename, content_type=stored.media_type).text
    except ExtractionError as exc:
        raise FileFailed("unsupported_file", f"The file cannot be read as text: {exc}.") from exc
    targets = resolve_routes(row.vector_store.embedding_model, Task.EMBEDDING, True)
    size, overlap = chunk_sizes(row.chunking_strategy, targets)
    pieces = chunk_text(text, size, overlap)
    vectors = embeddings.embed(
        EmbeddingsRequest(model=row.vector_store.embedding_model, inputs=tuple(pieces)), targets, entry
    )
    try:
        documents.replace_document(
            owner_id=row.vector_store.owner_id,
            namespace=row.vector_store_id,
            external_id=stored.pk,
            title=stored.filename[:500],
            metadata=row.attributes,
            source_hash="",
            embedding_model=entry.upstream_model,
            chunks=[ChunkInput(text=piece, vector=vector) for piece, vector in zip(pieces, vectors, strict=True)],
        )
    except ValueError as exc:
        raise FileFailed("server_error", f"The file's chunks cannot be stored: {exc}.") from exc
    # What the store holds for it: the text and a float32 vector per chunk.
    row.usage_bytes = sum(
        len(piece.encode("utf-8")) + 4 * len(vector) for piece, vector in zip(pieces, vectors, strict=True)
    )


def finish(row: VectorStoreFile, batch_id: str, *, error: FileFailed | None, outcome: Outcome) -> None:
    """The file's end (completed, or failed with `error`), unless it left the store, was cancelled
    or re-added meanwhile; then its batch's count, and the usage record once the count is zero.
    `row` is the file as the task read it: its store and file name the document it may have made."""
    with transaction.atomic():
        current = VectorStoreFile.objects.select_for_update().filter(pk=row.pk).first()
        live = current is not None and current.batch_id == batch_id and current.status == Status.IN_PROGRESS
        if live:
            assert current is not None
            current.status = Status.FAILED if error else Status.COMPLETED
            current.last_error = {"code": error.code, "message": error.message} if error else None
            current.usage_bytes = 0 if error else row.usage_bytes
            current.save(update_fields=["status", "last_error", "usage_bytes"])
        # Nothing of a file that is not (or no longer) in the store stays searchable; a file
        # re-added meanwhile is left to its own, newer task.
        if (not live or error) and (current is None or current.batch_id == batch_id):
            Document.objects.filter(
                owner_id=row.vector_store.owner_id, namespace=row.vector_store_id, external_id=row.file_id
            ).delete()
        _count_down(batch_id, outcome)


def count_down(batch_id: str, outcome: Outcome | None = None) -> None:
    """One file of the batch has ended (or will never run); the last writes the usage record."""
    with transaction.atomic():
        _count_down(batch_id, outcome or Outcome())


def _count_down(batch_id: str, outcome: Outcome) -> None:
    updated = FileBatch.objects.filter(pk=batch_id, pending__gt=0).update(
        pending=F("pending") - 1,
        prompt_tokens=F("prompt_tokens") + outcome.prompt_tokens,
        attempts=F("attempts") + outcome.attempts,
        **({"route_id": outcome.route_id} if outcome.route_id is not None else {}),
    )
    if not updated:
        return
    batch = FileBatch.objects.select_for_update().get(pk=batch_id)
    if batch.pending or batch.settled_at is not None or batch.ticket is None:
        return
    batch.settled_at = timezone.now()
    batch.save(update_fields=["settled_at"])
    transaction.on_commit(lambda: settle_batch(batch))


def settle_batch(batch: FileBatch) -> None:
    """The request's one usage record: every file's embedding tokens (estimated, as embeddings are).
    The request itself was answered 200; how each file ended is its own status."""
    try:
        settle_handed(
            batch.ticket or {},
            status=200,
            prompt_tokens=batch.prompt_tokens,
            route_id=batch.route_id,
            attempts=batch.attempts,
        )
    except Exception:
        log.exception("usage record of vector store file batch %s not written", batch.pk)
