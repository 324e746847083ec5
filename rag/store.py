"""Documents and their chunks: replace, read, list, delete. Typed, no HTTP.

Every function takes the owner (the API key's owner) and only ever reads or writes that owner's
rows. Invalid input raises ValueError with a message fit for a client; callers validate request
fields first, so these checks are the last line.

Replacing a document is one transaction: an upsert on (owner, namespace, external_id) creates or
locks the document row (INSERT … ON CONFLICT DO UPDATE takes the row lock,
https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT), then the old chunks are
deleted, the new ones inserted and the document updated. Concurrent replaces of one document queue
on that lock and the last to commit wins whole. A search is one statement, and under READ
COMMITTED one statement sees one snapshot
(https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED), so it sees
either every old chunk or every new one, never a mix and never none
(tests/rag/test_store_concurrency.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from gateway.accounting.tokens import estimate_text_tokens
from rag.models import DEFAULT_NAMESPACE, Chunk, Document
from rag.pgcopy import ChunkRow, copy_chunks, metadata_json
from rag.vectors import check_dimensions, vector_binary

MAX_LIST_LIMIT = 100


@dataclass(frozen=True)
class ChunkInput:
    text: str
    vector: Sequence[float]


@dataclass(frozen=True)
class DocumentPage:
    documents: list[Document]
    next_cursor: str | None  # pass to list_documents for the next page; None: this was the last


def replace_document(
    *,
    owner_id: int,
    namespace: str,
    external_id: str,
    title: str,
    metadata: dict[str, Any],
    source_hash: str,
    embedding_model: str,
    chunks: list[ChunkInput],
) -> Document:
    """Create the document, or replace its chunks and fields, in one transaction (module docstring).

    Chunks are stored in the given order as index 0…n-1, each with the document's owner, namespace
    and metadata. All vectors must have one supported length (rag.models.SUPPORTED_DIMENSIONS).
    """
    _check_lengths(namespace=(namespace, 1, 100), external_id=(external_id, 1, 200), title=(title, 0, 500))
    _check_lengths(source_hash=(source_hash, 0, 64), embedding_model=(embedding_model, 0, 200))
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be a JSON object")
    metadata_text = metadata_json(metadata)
    dimensions = len(chunks[0].vector) if chunks else 0
    if chunks:
        check_dimensions(dimensions)
    packed = []
    for position, chunk in enumerate(chunks):
        if len(chunk.vector) != dimensions:
            raise ValueError(f"chunk {position} has {len(chunk.vector)} dimensions, chunk 0 has {dimensions}")
        if "\x00" in chunk.text:  # Postgres text cannot hold it
            raise ValueError(f"chunk {position}'s text contains the NUL character")
        packed.append(vector_binary(chunk.vector, what=f"chunk {position}'s vector"))

    fields = {
        "title": title,
        "metadata": metadata,
        "source_hash": source_hash,
        "embedding_model": embedding_model,
        "dimensions": dimensions,
        "status": Document.Status.READY,
        "error": "",
        "chunk_count": len(chunks),
    }
    with transaction.atomic():
        (document,) = Document.objects.bulk_create(
            [Document(owner_id=owner_id, namespace=namespace, external_id=external_id, **fields)],
            update_conflicts=True,
            unique_fields=["owner", "namespace", "external_id"],
            update_fields=[*fields, "updated_at"],
        )
        Chunk.objects.filter(document_id=document.pk).delete()
        if chunks:
            with connection.cursor() as cursor:
                copy_chunks(
                    cursor,
                    (
                        ChunkRow(
                            document_id=document.pk,
                            index=position,
                            text=chunk.text,
                            token_estimate=estimate_text_tokens(chunk.text),
                            embedding=embedding,
                            dimensions=dimensions,
                            owner_id=owner_id,
                            namespace=namespace,
                            metadata_json=metadata_text,
                        )
                        for position, (chunk, embedding) in enumerate(zip(chunks, packed, strict=True))
                    ),
                )
        # bulk_create set created_at to now even when the row existed: read back what is stored.
        return Document.objects.get(pk=document.pk)


def begin_document(
    *, owner_id: int, namespace: str, external_id: str, title: str, metadata: dict[str, Any], source_hash: str
) -> Document:
    """Create the document, or mark an existing one, as `processing` while a task embeds its text.

    An existing document keeps its chunks, and so stays searchable, until the task replaces them.
    """
    _check_lengths(namespace=(namespace, 1, 100), external_id=(external_id, 1, 200), title=(title, 0, 500))
    fields = {"title": title, "metadata": metadata, "source_hash": source_hash, "status": Document.Status.PROCESSING,
              "error": ""}  # fmt: skip
    with transaction.atomic():
        (document,) = Document.objects.bulk_create(
            [Document(owner_id=owner_id, namespace=namespace, external_id=external_id, **fields)],
            update_conflicts=True,
            unique_fields=["owner", "namespace", "external_id"],
            update_fields=[*fields, "updated_at"],
        )
        return Document.objects.get(pk=document.pk)


def fail_document(pk: int, error: str) -> None:
    Document.objects.filter(pk=pk).update(status=Document.Status.FAILED, error=error[:2000])


def get_document(
    owner_id: int, *, pk: int | None = None, namespace: str | None = None, external_id: str | None = None
) -> Document | None:
    """The owner's document by primary key, or by (namespace, external_id); None if not theirs."""
    return _owned(owner_id, pk, namespace, external_id).first()


def delete_document(
    owner_id: int, *, pk: int | None = None, namespace: str | None = None, external_id: str | None = None
) -> bool:
    """Delete the owner's document and its chunks; False if there was none."""
    with transaction.atomic():
        # Lock first: a replace of the same document waits for this delete, and none can add
        # chunks between the chunk delete and the document delete.
        pks = list(_owned(owner_id, pk, namespace, external_id).select_for_update().values_list("pk", flat=True))
        if not pks:
            return False
        Document.objects.filter(pk__in=pks).delete()
    return True


def list_documents(
    owner_id: int, *, namespace: str | None = None, limit: int = 20, cursor: str | None = None
) -> DocumentPage:
    """The owner's documents (in one namespace, or all), most recently updated first.

    Pages are keyset-paginated on (updated_at, id): `cursor` is the previous page's next_cursor. A
    document replaced while a client pages moves to the front and is not seen again in that walk.
    """
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    documents = Document.objects.filter(owner_id=owner_id)
    if namespace is not None:
        documents = documents.filter(namespace=namespace)
    if cursor is not None:
        updated_at, pk = _decode_cursor(cursor)
        documents = documents.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, pk__lt=pk))
    found = list(documents.order_by("-updated_at", "-pk")[: limit + 1])
    page = found[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(found) > limit else None
    return DocumentPage(documents=page, next_cursor=next_cursor)


def _owned(owner_id: int, pk: int | None, namespace: str | None, external_id: str | None) -> Any:
    if (pk is None) == (external_id is None):
        raise ValueError("give either pk or external_id (with its namespace)")
    documents = Document.objects.filter(owner_id=owner_id)
    if pk is not None:
        return documents.filter(pk=pk)
    return documents.filter(namespace=DEFAULT_NAMESPACE if namespace is None else namespace, external_id=external_id)


def _check_lengths(**fields: tuple[str, int, int]) -> None:
    for name, (value, shortest, longest) in fields.items():
        if not isinstance(value, str) or not shortest <= len(value) <= longest:
            raise ValueError(f"{name} must be a string of {shortest} to {longest} characters")


def _encode_cursor(document: Document) -> str:
    raw = f"{document.updated_at.isoformat()}|{document.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|")
        updated_at = datetime.fromisoformat(stamp)
        if updated_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return updated_at, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not one list_documents returned") from exc
