"""RAG documents in the admin: per owner and namespace, with their chunk counts and status.

Deleting a document (one, or many with the bulk action) deletes its chunks with it (CASCADE).
Documents are made through the API only: the admin shows and removes them, it does not edit text.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from rag.models import Document


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
