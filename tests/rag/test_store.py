"""rag/store.py: replace, get, list, delete, each within one owner's rows."""

from __future__ import annotations

import pytest
from rag_helpers import DIMS, axis, owner, put, unit

from rag.models import Chunk, Document
from rag.store import ChunkInput, delete_document, get_document, list_documents, replace_document

pytestmark = pytest.mark.django_db


def test_replace_creates_then_replaces_in_place() -> None:
    alice = owner("alice")
    first = put(alice, "doc-1", [("one", axis(0)), ("two", axis(1))], metadata={"lang": "en"}, title="T")
    assert (first.chunk_count, first.dimensions, first.status, first.title) == (2, DIMS, "ready", "T")

    second = put(alice, "doc-1", [("uno", axis(2))], metadata={"lang": "es"})
    assert second.pk == first.pk
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    assert (second.chunk_count, second.metadata, second.title) == (1, {"lang": "es"}, "")
    chunks = list(Chunk.objects.filter(document=second).values_list("index", "text", "metadata"))
    assert chunks == [(0, "uno", {"lang": "es"})]
    assert Document.objects.count() == 1


def test_chunks_carry_the_owner_namespace_metadata_and_an_estimate() -> None:
    bob = owner("bob")
    text = "é" * 5 + "abc"  # 13 bytes of UTF-8: 4 tokens at one per 4 bytes, rounded up
    document = put(bob, "d", [(text, unit(1, 2, 3))], namespace="notes", metadata={"k": [1, 2]})
    (chunk,) = Chunk.objects.filter(document=document)
    assert (chunk.owner_id, chunk.namespace, chunk.metadata, chunk.index) == (bob, "notes", {"k": [1, 2]}, 0)
    assert chunk.token_estimate == 4 and chunk.dimensions == DIMS
    assert chunk.embedding[:3] == pytest.approx(unit(1, 2, 3)[:3], rel=1e-6)


def test_a_document_without_chunks_is_stored_empty() -> None:
    document = put(owner("empty"), "blank", [])
    assert (document.chunk_count, document.dimensions) == (0, 0)
    assert not Chunk.objects.exists()


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([[1.0] * 100], "not supported"),
        ([axis(0), axis(0, dimensions=768)], "dimensions"),
        ([[0.0] * DIMS], "all zeros"),
        ([[float("nan")] + [1.0] * (DIMS - 1)], "finite"),
    ],
)
def test_bad_vectors_are_refused_and_nothing_changes(vectors: list[list[float]], message: str) -> None:
    carol = owner("carol")
    put(carol, "kept", [("old", axis(0))])
    with pytest.raises(ValueError, match=message):
        replace_document(
            owner_id=carol,
            namespace="default",
            external_id="kept",
            title="",
            metadata={},
            source_hash="",
            embedding_model="m",
            chunks=[ChunkInput(text="new", vector=vector) for vector in vectors],
        )
    assert list(Chunk.objects.values_list("text", flat=True)) == ["old"]


@pytest.mark.parametrize(
    "fields",
    [
        {"namespace": ""},
        {"namespace": "n" * 101},
        {"external_id": ""},
        {"external_id": "x" * 201},
        {"title": "t" * 501},
        {"metadata": ["not", "an object"]},
        {"metadata": {"nul": "\x00"}},
    ],
)
def test_bad_keys_and_metadata_are_refused(fields: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "owner_id": owner("dave"),
        "namespace": "default",
        "external_id": "x",
        "title": "",
        "metadata": {},
        "source_hash": "",
        "embedding_model": "m",
        "chunks": [],
    }
    with pytest.raises(ValueError):
        replace_document(**{**arguments, **fields})  # type: ignore[arg-type]
    assert not Document.objects.exists()


def test_get_by_pk_or_by_namespace_and_external_id() -> None:
    erin = owner("erin")
    document = put(erin, "guide", [("g", axis(0))], namespace="manuals")
    assert get_document(erin, pk=document.pk) == document
    assert get_document(erin, namespace="manuals", external_id="guide") == document
    assert get_document(erin, external_id="guide") is None  # the "default" namespace
    assert get_document(erin, pk=document.pk + 1000) is None
    with pytest.raises(ValueError):
        get_document(erin)


def test_other_owners_rows_are_never_seen_nor_touched() -> None:
    frank, grace = owner("frank"), owner("grace")
    franks = put(frank, "shared-id", [("frank's", axis(0))])
    graces = put(grace, "shared-id", [("grace's", axis(0))])
    assert franks.pk != graces.pk
    assert get_document(grace, pk=franks.pk) is None
    assert [document.pk for document in list_documents(grace).documents] == [graces.pk]
    assert delete_document(grace, pk=franks.pk) is False
    assert get_document(frank, pk=franks.pk) == franks
    assert Chunk.objects.filter(document=franks).count() == 1


def test_delete_removes_the_document_and_its_chunks() -> None:
    heidi = owner("heidi")
    document = put(heidi, "gone", [("a", axis(0)), ("b", axis(1))], namespace="ns")
    put(heidi, "stays", [("c", axis(2))], namespace="ns")
    assert delete_document(heidi, namespace="ns", external_id="gone") is True
    assert get_document(heidi, pk=document.pk) is None
    assert list(Chunk.objects.values_list("text", flat=True)) == ["c"]
    assert delete_document(heidi, namespace="ns", external_id="gone") is False


def test_listing_pages_newest_first_with_a_cursor() -> None:
    ivan = owner("ivan")
    for number in range(7):
        put(ivan, f"doc-{number}", [], namespace="a" if number % 2 else "b")
    put(ivan, "doc-2", [], namespace="b")  # replaced: now the most recently updated

    seen: list[str] = []
    cursor = None
    while True:
        page = list_documents(ivan, limit=3, cursor=cursor)
        assert len(page.documents) <= 3
        seen += [document.external_id for document in page.documents]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["doc-2", "doc-6", "doc-5", "doc-4", "doc-3", "doc-1", "doc-0"]
    assert [d.external_id for d in list_documents(ivan, namespace="a", limit=10).documents] == [
        "doc-5",
        "doc-3",
        "doc-1",
    ]
    assert list_documents(ivan, namespace="a", limit=3).next_cursor is None


@pytest.mark.parametrize("cursor", ["nonsense", "", "MjAyNnwx"])
def test_a_cursor_not_from_list_documents_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        list_documents(owner("judy"), cursor=cursor)


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limit_is_bounded(limit: int) -> None:
    with pytest.raises(ValueError):
        list_documents(owner("ken"), limit=limit)


def test_text_with_a_nul_character_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        put(owner("nul"), "n", [("before\x00after", axis(0))])
    assert not Document.objects.exists()
