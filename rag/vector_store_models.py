"""OpenAI's Files and Vector Stores, over RAG's own storage (re-exported by rag/models.py).

A file is bytes in the `files` storage plus a row. A vector store is a set of files whose text is
chunked and embedded into RAG documents: the file `file-…` in the store `vs_…` is the Document
(owner, namespace "vs_…", external_id "file-…") with its chunks, so /v1/rag/search over that
namespace finds exactly what the store's search finds (one storage, rag/models.py). A file's
attributes are that document's metadata, which its chunks carry for filtering.

Everything belongs to the key's owner; another owner's ids are answered as if they did not exist.
Ingestion is grouped in batches (FileBatch): the client's file_batches, and a hidden batch of one
for each file added alone or through `file_ids` at creation, so one request is one usage record,
written when its last file is done (gateway/accounting/handoff.py).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_id(prefix: str) -> str:
    """OpenAI-style ids: a type prefix and 96 random bits."""
    return f"{prefix}{secrets.token_hex(12)}"


def _file_id() -> str:
    return new_id("file-")


STORE_PREFIX = "vs_"  # also the namespace of a store's documents


def _store_id() -> str:
    return new_id(STORE_PREFIX)


def _batch_id() -> str:
    return new_id("vsfb_")


class StoredFile(models.Model):
    """An uploaded file (POST /v1/files)."""

    id = models.CharField(primary_key=True, max_length=40, default=_file_id)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    api_key = models.ForeignKey("gateway.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32)
    bytes = models.BigIntegerField()
    media_type = models.CharField(max_length=100, blank=True)
    storage_name = models.CharField(max_length=100, help_text="The bytes' name in the files storage.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "file"
        indexes = [models.Index(fields=["owner", "-created_at", "id"], name="rag_file_listing")]

    def __str__(self) -> str:
        return f"{self.id} ({self.filename})"


class VectorStore(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=_store_id)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    name = models.CharField(max_length=256, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    embedding_model = models.CharField(
        max_length=200, help_text="The public embedding model its files are embedded and searched with."
    )
    expires_after = models.JSONField(null=True, blank=True)  # {"anchor": "last_active_at", "days": n}
    expires_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "vector store"
        indexes = [models.Index(fields=["owner", "-created_at", "id"], name="rag_vector_store_listing")]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})" if self.name else self.id


class FileBatch(models.Model):
    """One ingestion request: its usage ticket, and how many of its files are still being embedded."""

    id = models.CharField(primary_key=True, max_length=40, default=_batch_id)
    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="batches")
    visible = models.BooleanField(default=True, help_text="Made by file_batches.create (else by a single add).")
    ticket = models.JSONField(null=True, blank=True)  # the request's usage, settled by the last file
    pending = models.PositiveIntegerField(default=0)
    # What its files' embedding used, added up as each ends: the one usage record says it.
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    route_id = models.PositiveIntegerField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "vector store file batch"
        verbose_name_plural = "vector store file batches"


class VectorStoreFile(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    vector_store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="files")
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="memberships")
    batch = models.ForeignKey(FileBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="files")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    last_error = models.JSONField(null=True, blank=True)  # {"code", "message"} when failed
    usage_bytes = models.BigIntegerField(default=0)
    attributes = models.JSONField(default=dict, blank=True)
    chunking_strategy = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "vector store file"
        constraints = [models.UniqueConstraint(fields=["vector_store", "file"], name="rag_vector_store_file_once")]
        indexes = [models.Index(fields=["vector_store", "status", "-created_at"], name="rag_vector_store_file_status")]

    def __str__(self) -> str:
        return f"{self.vector_store_id}/{self.file_id}"
