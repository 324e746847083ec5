"""The RAG answers, in the original project's shapes (README "RAG")."""

from __future__ import annotations

from typing import Any

from rag.models import Document
from rag.search import Hit
from rag.store import DocumentPage


def source_of(hit: Hit) -> dict[str, Any]:
    return {
        "score": hit.score,
        "metadata": hit.metadata,
        "text": hit.text,
        "document_id": hit.document_id,
        "chunk_index": hit.chunk_index,
        "namespace": hit.namespace,
    }


def search_body(query: str, hits: list[Hit]) -> dict[str, Any]:
    return {
        "query": query,
        "context": "\n\n".join(hit.text for hit in hits),
        "sources": [source_of(hit) for hit in hits],
    }


def ingested_body(document: Document) -> dict[str, Any]:
    body = {
        "success": True,
        "document_id": document.external_id,
        "namespace": document.namespace,
        "chunks_processed": document.chunk_count,
    }
    if document.status != Document.Status.READY:  # queued for a task: chunks_processed is not yet known
        body.update(status=document.status, chunks_processed=0)
    return body


def document_body(document: Document) -> dict[str, Any]:
    return {
        "object": "rag.document",
        "document_id": document.external_id,
        "namespace": document.namespace,
        "title": document.title,
        "metadata": document.metadata,
        "status": document.status,
        "error": document.error,
        "chunks": document.chunk_count,
        "embedding_model": document.embedding_model,
        "dimensions": document.dimensions,
        "source_hash": document.source_hash,
        "created_at": int(document.created_at.timestamp()),
        "updated_at": int(document.updated_at.timestamp()),
    }


def page_body(page: DocumentPage) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [document_body(document) for document in page.documents],
        "has_more": page.next_cursor is not None,
        "next_cursor": page.next_cursor,
    }
