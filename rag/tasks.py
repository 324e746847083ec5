"""Celery: a large document's text embedded and stored off the request (README "RAG").

The request stored the text under DATA_DIR's media storage, marked the document `processing`,
recorded its usage (the same chunks and estimate this task embeds) and answered 202. This task
embeds and stores the chunks, which turns the document `ready`, or marks it `failed` with the
reason. It is acknowledged only when done, so a worker killed mid-way leaves it to run again;
storing is a replace, so a second run changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core.files.storage import default_storage

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import resolve_routes
from gateway.errors import GatewayError
from gateway.models import Task
from rag import service, store
from rag.request import DocumentRequest

log = logging.getLogger(__name__)

# Upstream trouble worth another try later; anything else (a bad input, a missing model) is final.
_TRANSIENT = {429, 502, 503, 504}
MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def ingest_document(self: Any, document_pk: int, owner_id: int, source: str, fields: dict[str, Any]) -> None:
    with default_storage.open(source, "rb") as handle:
        text = handle.read().decode("utf-8")
    body = DocumentRequest(text=text, **fields)
    # Its usage was recorded with the request; this entry only carries the call's bookkeeping.
    entry = UsageEntry(request_id=f"task-{self.request.id}", endpoint="rag.documents", principal=None)
    try:
        targets = resolve_routes(body.model, Task.EMBEDDING, True)
        service.ingest(body, targets, entry, owner_id)
    except GatewayError as error:
        if error.status in _TRANSIENT and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=2**self.request.retries, exc=error) from error
        log.warning("document %s failed to ingest: %s", document_pk, error.message)
        store.fail_document(document_pk, error.message)
    except Exception:
        # A bug or the database away: the document must not stay `processing` for ever.
        log.exception("document %s failed to ingest", document_pk)
        store.fail_document(document_pk, "The gateway failed while storing this document; post it again.")
        raise
    default_storage.delete(source)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def ingest_store_file(self: Any, row_pk: int, batch_id: str) -> None:
    """One file of a vector store (rag/vector_stores/ingestion.py). A file that left the store, was
    cancelled or re-added since only counts down its batch."""
    from rag.models import VectorStoreFile
    from rag.vector_stores import ingestion

    row = VectorStoreFile.objects.select_related("vector_store", "file").filter(pk=row_pk).first()
    if row is None or row.batch_id != batch_id or row.status != VectorStoreFile.Status.IN_PROGRESS:
        ingestion.count_down(batch_id)
        return
    entry = UsageEntry(request_id=f"task-{self.request.id}", endpoint="vector_stores.files", principal=None)
    error: ingestion.FileFailed | None = None
    try:
        ingestion.embed_file(row, entry)
    except ingestion.FileFailed as failed:
        error = failed
    except GatewayError as failure:
        if failure.status in _TRANSIENT and self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=2**self.request.retries, exc=failure) from failure
        error = ingestion.FileFailed("server_error", failure.message)
    except Exception:
        log.exception("vector store file %s failed to ingest", row_pk)
        failed = ingestion.FileFailed("server_error", "The gateway failed while embedding this file.")
        ingestion.finish(row, batch_id, error=failed, outcome=ingestion.Outcome())
        raise
    outcome = ingestion.Outcome(entry.prompt_tokens, entry.attempts, entry.route_id)
    ingestion.finish(row, batch_id, error=error, outcome=outcome)
