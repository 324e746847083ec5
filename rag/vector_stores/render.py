"""OpenAI's shapes for vector stores, their files, batches and search results
(https://platform.openai.com/docs/api-reference/vector-stores)."""

from __future__ import annotations

from typing import Any

from rag.models import FileBatch, VectorStore, VectorStoreFile
from rag.vector_stores.service import FileCounts, Result, batch_status, expired


def _seconds(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _file_counts(counts: FileCounts) -> dict[str, int]:
    return {
        "in_progress": counts.in_progress,
        "completed": counts.completed,
        "failed": counts.failed,
        "cancelled": counts.cancelled,
        "total": counts.total,
    }


def store_body(store: VectorStore, counts: FileCounts) -> dict[str, Any]:
    status = "expired" if expired(store) else "in_progress" if counts.in_progress else "completed"
    return {
        "id": store.pk,
        "object": "vector_store",
        "created_at": _seconds(store.created_at),
        "name": store.name or None,
        "usage_bytes": counts.usage_bytes,
        "file_counts": _file_counts(counts),
        "status": status,
        "last_active_at": _seconds(store.last_active_at),
        "expires_after": store.expires_after,
        "expires_at": _seconds(store.expires_at),
        "metadata": store.metadata,
    }


def store_file_body(row: VectorStoreFile) -> dict[str, Any]:
    return {
        "id": row.file_id,
        "object": "vector_store.file",
        "created_at": _seconds(row.created_at),
        "vector_store_id": row.vector_store_id,
        "status": row.status,
        "last_error": row.last_error,
        "usage_bytes": row.usage_bytes,
        "attributes": row.attributes,
        "chunking_strategy": row.chunking_strategy,
    }


def batch_body(batch: FileBatch, counts: FileCounts) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "object": "vector_store.files_batch",
        "created_at": _seconds(batch.created_at),
        "vector_store_id": batch.vector_store_id,
        "status": batch_status(batch, counts),
        "file_counts": _file_counts(counts),
    }


def deleted_body(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}


def search_body(queries: tuple[str, ...], results: list[Result]) -> dict[str, Any]:
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries[0] if len(queries) == 1 else list(queries),
        "data": [
            {
                "file_id": result.file_id,
                "filename": result.filename,
                "score": result.score,
                "attributes": result.attributes,
                "content": [{"type": "text", "text": result.text}],
            }
            for result in results
        ],
        "has_more": False,
        "next_page": None,
    }
