"""RAG documents in the admin: listed with owner, namespace and chunk count; deleted with their chunks."""

from __future__ import annotations

import pytest
from conftest import make_key
from django.contrib.auth import get_user_model
from django.test import Client

from rag.models import Chunk, Document
from rag.store import ChunkInput, replace_document

pytestmark = pytest.mark.django_db(transaction=True)


def document(owner_id: int, external_id: str, chunks: int) -> Document:
    return replace_document(
        owner_id=owner_id,
        namespace="manuals",
        external_id=external_id,
        title=f"Title of {external_id}",
        metadata={},
        source_hash="0" * 64,
        embedding_model="@cf/baai/bge-small-en-v1.5",
        chunks=[ChunkInput(text=f"piece {i}", vector=[1.0] + [0.0] * 383) for i in range(chunks)],
    )


def test_the_changelist_shows_documents_and_a_delete_takes_their_chunks(routes) -> None:  # type: ignore[no-untyped-def]
    make_key("reader")
    owner = get_user_model().objects.get(username="owner-reader")
    kept, dropped = document(owner.pk, "kept-doc", 2), document(owner.pk, "dropped-doc", 3)
    operator = Client()
    operator.force_login(get_user_model().objects.create_superuser("operator", password="unused"))

    page = operator.get("/admin/rag/document/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "kept-doc" in html and "dropped-doc" in html and "owner-reader" in html and "manuals" in html

    confirm = operator.post(
        "/admin/rag/document/", {"action": "delete_selected", "_selected_action": [dropped.pk], "post": "yes"}
    )
    assert confirm.status_code == 302
    assert list(Document.objects.values_list("external_id", flat=True)) == ["kept-doc"]
    assert Chunk.objects.filter(document_id=dropped.pk).count() == 0
    assert Chunk.objects.filter(document_id=kept.pk).count() == 2
    assert operator.get("/admin/rag/document/add/").status_code == 403
