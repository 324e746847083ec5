"""RAG documents in the admin: per owner and namespace, with their chunk counts and status; and
OpenAI's files and vector stores per owner, with their files' counts and status.

Deleting a document (one, or many with the bulk action) deletes its chunks with it (CASCADE).
Documents are made through the API only: the admin shows and removes them, it does not edit text.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from rag.files import service as files
from rag.models import Document, StoredFile, VectorStore, VectorStoreFile
from rag.vector_stores import service as vector_stores


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("external_id", "title", "owner", "namespace", "status", "chunk_count", "dimensions", "updated_at")
    list_filter = ("status", "namespace", "embedding_model", "owner")
    search_fields = ("external_id", "title", "namespace", "owner__username")
    readonly_fields = (
        "owner",
        "namespace",
        "external_id",
        "title",
        "metadata",
        "source_hash",
        "embedding_model",
        "dimensions",
        "status",
        "error",
        "chunk_count",
        "created_at",
        "updated_at",
    )
    list_select_related = ("owner",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- OpenAI's files and vector stores, per owner ---------------------------------------------------


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return str(count)


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    """Uploaded files; deleting one here deletes it as DELETE /v1/files does (chunks, then bytes)."""

    list_display = ("id", "filename", "owner", "purpose", "size", "stores", "created_at")
    list_filter = ("purpose", "owner")
    search_fields = ("id", "filename", "owner__username")
    readonly_fields = ("id", "owner", "api_key", "filename", "purpose", "bytes", "media_type", "created_at")
    exclude = ("storage_name",)
    list_select_related = ("owner",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredFile]:
        return super().get_queryset(request).annotate(store_count=Count("memberships"))

    @admin.display(description="Size", ordering="bytes")
    def size(self, row: StoredFile) -> str:
        return _size(row.bytes)

    @admin.display(description="In stores", ordering="store_count")
    def stores(self, row: StoredFile) -> int:
        return row.store_count  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StoredFile | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: StoredFile) -> None:
        files.delete(obj.owner_id, obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> None:
        for row in queryset:
            files.delete(row.owner_id, row.pk)


class StoreFileInline(admin.TabularInline):
    model = VectorStoreFile
    fields = ("file", "status", "error", "usage_bytes", "attributes", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="Last error")
    def error(self, row: VectorStoreFile) -> str:
        return (row.last_error or {}).get("message", "") if isinstance(row.last_error, dict) else ""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(VectorStore)
class VectorStoreAdmin(admin.ModelAdmin):
    """Stores with their files' counts and status; deleting one here deletes its chunks, not its files."""

    list_display = ("id", "name", "owner", "state", "completed", "in_progress", "failed", "usage", "last_active_at")
    list_filter = ("owner",)
    search_fields = ("id", "name", "owner__username")
    readonly_fields = (
        "id",
        "owner",
        "name",
        "metadata",
        "embedding_model",
        "expires_after",
        "expires_at",
        "last_active_at",
        "created_at",
    )
    inlines = [StoreFileInline]
    list_select_related = ("owner",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[VectorStore]:
        counted = {
            f"n_{status}": Count("files", filter=Q(files__status=status)) for status in VectorStoreFile.Status.values
        }
        return super().get_queryset(request).annotate(**counted, usage_total=Coalesce(Sum("files__usage_bytes"), 0))

    @admin.display(description="Status")
    def state(self, row: VectorStore) -> str:
        if vector_stores.expired(row):
            return "expired"
        return "in_progress" if row.n_in_progress else "completed"  # type: ignore[attr-defined]

    @admin.display(description="Completed", ordering="n_completed")
    def completed(self, row: VectorStore) -> int:
        return row.n_completed  # type: ignore[attr-defined]

    @admin.display(description="In progress", ordering="n_in_progress")
    def in_progress(self, row: VectorStore) -> int:
        return row.n_in_progress  # type: ignore[attr-defined]

    @admin.display(description="Failed", ordering="n_failed")
    def failed(self, row: VectorStore) -> int:
        return row.n_failed  # type: ignore[attr-defined]

    @admin.display(description="Usage", ordering="usage_total")
    def usage(self, row: VectorStore) -> str:
        return _size(row.usage_total)  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: VectorStore | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: VectorStore) -> None:
        vector_stores.delete_store(obj.owner_id, obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[VectorStore]) -> None:
        for row in queryset:
            vector_stores.delete_store(row.owner_id, row.pk)
