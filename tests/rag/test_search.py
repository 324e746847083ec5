"""rag/search.py on hand-made vectors: ranking, scores, threshold, filters, owners, hybrid fusion."""

from __future__ import annotations

from typing import Any

import pytest
from rag_helpers import DIMS, axis, owner, put, unit

from rag.search import RRF_K, Hit, search

pytestmark = pytest.mark.django_db

QUERY = axis(0)


def find(owner_id: int, **options: Any) -> list[Hit]:
    return search(owner_id=owner_id, query_vector=options.pop("query_vector", QUERY), dimensions=DIMS, **options)


@pytest.fixture
def library() -> int:
    """One owner's chunks at known cosine similarities to QUERY (the first axis)."""
    reader = owner("reader")
    put(
        reader,
        "geometry",
        [
            ("exactly the query", axis(0)),  # similarity 1
            ("close", unit(1, 0.5)),  # 2/√5 ≈ 0.894
            ("at forty-five degrees", unit(1, 1)),  # 1/√2 ≈ 0.707
            ("orthogonal", axis(1)),  # 0
            ("opposite", unit(-1)),  # -1
        ],
        metadata={"topic": "geometry", "tags": ["math", "shapes"]},
    )
    put(reader, "poetry", [("a bit off", unit(1, 0.75))], namespace="verse", metadata={"topic": "poetry"})  # 0.8
    return reader


def test_hits_are_ranked_by_cosine_similarity_with_exact_scores(library: int) -> None:
    hits = find(library, top_k=10, score_threshold=-1)
    assert [hit.text for hit in hits] == [
        "exactly the query",
        "close",
        "a bit off",
        "at forty-five degrees",
        "orthogonal",
        "opposite",
    ]
    expected = [1.0, 2 / 5**0.5, 0.8, 2**-0.5, 0.0, -1.0]
    assert [hit.score for hit in hits] == pytest.approx(expected, abs=1e-6)
    first = hits[0]
    assert (first.document_id, first.chunk_index, first.namespace) == ("geometry", 0, "default")
    assert first.metadata == {"topic": "geometry", "tags": ["math", "shapes"]}
    assert hits[2].document_id == "poetry" and hits[2].namespace == "verse"


def test_top_k_limits_the_hits(library: int) -> None:
    assert [hit.text for hit in find(library, top_k=2)] == ["exactly the query", "close"]


@pytest.mark.parametrize(("threshold", "count"), [(0.7, 4), (0.75, 3), (0.85, 2), (0.95, 1), (1.01, 0), (-1, 6)])
def test_the_threshold_drops_less_similar_hits(library: int, threshold: float, count: int) -> None:
    hits = find(library, top_k=10, score_threshold=threshold)
    assert len(hits) == count
    assert all(hit.score >= threshold for hit in hits)


def test_namespace_restricts_and_none_means_every_namespace(library: int) -> None:
    assert [hit.text for hit in find(library, namespace="verse")] == ["a bit off"]
    assert "a bit off" in [hit.text for hit in find(library, namespace=None)]
    assert find(library, namespace="elsewhere") == []


def test_metadata_filter_is_containment(library: int) -> None:
    assert {hit.text for hit in find(library, metadata_filter={"topic": "poetry"})} == {"a bit off"}
    assert len(find(library, top_k=10, score_threshold=-1, metadata_filter={"tags": ["shapes"]})) == 5
    assert find(library, metadata_filter={"tags": ["poetry"]}) == []
    assert find(library, metadata_filter={"topic": "geometry", "missing": 1}) == []


def test_another_owners_chunks_are_never_found(library: int) -> None:
    stranger = owner("stranger")
    put(stranger, "geometry", [("the stranger's exact match", axis(0))])
    assert "the stranger's exact match" not in [hit.text for hit in find(library, top_k=10, score_threshold=-1)]
    assert [hit.text for hit in find(stranger, top_k=10, score_threshold=-1)] == ["the stranger's exact match"]
    assert find(owner("nobody"), score_threshold=-1) == []


def test_other_dimensions_are_not_mixed_in(library: int) -> None:
    put(library, "large", [("768 dimensions", axis(0, dimensions=768))])
    assert "768 dimensions" not in [hit.text for hit in find(library, top_k=10, score_threshold=-1)]
    hits = search(owner_id=library, query_vector=axis(0, dimensions=768), dimensions=768, score_threshold=-1)
    assert [hit.text for hit in hits] == ["768 dimensions"]


@pytest.mark.parametrize(
    "options",
    [
        {"query_vector": axis(0, dimensions=768)},  # not the dimensions named
        {"query_vector": [0.0] * DIMS},
        {"top_k": 0},
        {"top_k": 101},
        {"mode": "keyword"},
        {"mode": "hybrid", "query_text": "  "},
        {"metadata_filter": ["a"]},
    ],
)
def test_bad_queries_are_refused(library: int, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        find(library, **options)


def test_unsupported_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="not supported"):
        search(owner_id=1, query_vector=[1.0] * 100, dimensions=100)


@pytest.fixture
def manuals() -> int:
    """Chunks close to QUERY in meaning, and one far from it that holds a rare keyword."""
    writer = owner("writer")
    near = [(f"general note number {number} about setup", unit(1, 0.1 * number)) for number in range(6)]
    put(writer, "notes", near)
    put(writer, "appendix", [("Error XQ-4471 means the flux capacitor overheated", axis(7))])
    put(writer, "mixed", [("setup of the flux capacitor", unit(1, 0.05))])
    return writer


def test_hybrid_finds_an_exact_keyword_match_that_vector_search_ranks_low(manuals: int) -> None:
    vector_hits = find(manuals, top_k=5, score_threshold=-1)
    assert "Error XQ-4471 means the flux capacitor overheated" not in [hit.text for hit in vector_hits]
    assert find(manuals, top_k=10, score_threshold=-1)[-1].document_id == "appendix"  # ranked last

    hits = find(manuals, top_k=5, mode="hybrid", query_text="XQ-4471 overheated")
    # First of the full-text list, as the nearest chunk is first of the vector list: a tie at 1/61
    # (broken by chunk id), ahead of every other vector candidate.
    assert [hit.text for hit in hits[:2]] == [
        "general note number 0 about setup",
        "Error XQ-4471 means the flux capacitor overheated",
    ]
    assert hits[1].score == hits[0].score == pytest.approx(1 / (RRF_K + 1))
    assert hits[1].document_id == "appendix" and hits[1].chunk_index == 0
    assert all(hit.score < hits[1].score for hit in hits[2:])


def test_hybrid_scores_are_reciprocal_rank_fusion(manuals: int) -> None:
    hits = find(manuals, top_k=10, mode="hybrid", query_text="flux capacitor", score_threshold=0.7)
    scores = {hit.text: hit.score for hit in hits}
    # Vector ranks: note 0 (similarity 1), "mixed" (0.9988), note 1 (0.995), …; full-text ranks:
    # "mixed" and the appendix both match both words (ts_rank_cd ties are broken by id: appendix first).
    assert scores["setup of the flux capacitor"] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 2))
    assert scores["Error XQ-4471 means the flux capacitor overheated"] == pytest.approx(1 / (RRF_K + 1))
    assert scores["general note number 0 about setup"] == pytest.approx(1 / (RRF_K + 1))
    assert [hit.text for hit in hits][0] == "setup of the flux capacitor"
    assert hits == sorted(hits, key=lambda hit: -hit.score)


def test_hybrid_threshold_applies_to_the_vector_side_only(manuals: int) -> None:
    put(manuals, "stray", [("unrelated words entirely", axis(9))])
    hits = find(manuals, top_k=20, mode="hybrid", query_text="XQ-4471", score_threshold=0.7)
    texts = [hit.text for hit in hits]
    assert "Error XQ-4471 means the flux capacitor overheated" in texts  # similarity 0, kept by its words
    assert "unrelated words entirely" not in texts  # similarity 0 and no words: dropped
    assert len(texts) == 8  # the 7 chunks at or above 0.7, and the keyword match


def test_hybrid_respects_owner_namespace_and_filter(manuals: int) -> None:
    stranger = owner("hybrid-stranger")
    put(stranger, "theirs", [("XQ-4471 in someone else's notes", axis(0))])
    put(manuals, "elsewhere", [("XQ-4471 in another namespace", axis(0))], namespace="other", metadata={"v": 2})
    texts = [hit.text for hit in find(manuals, top_k=20, mode="hybrid", query_text="XQ-4471", namespace="default")]
    assert "XQ-4471 in someone else's notes" not in texts and "XQ-4471 in another namespace" not in texts
    filtered = find(manuals, top_k=20, mode="hybrid", query_text="XQ-4471", metadata_filter={"v": 2})
    assert [hit.text for hit in filtered] == ["XQ-4471 in another namespace"]


def test_hybrid_reads_the_first_32_words_of_the_query(manuals: int) -> None:
    filler = " ".join(f"filler{number}" for number in range(40))
    early = find(manuals, top_k=20, mode="hybrid", query_text=f"XQ-4471 or {filler}", score_threshold=0.99)
    assert "Error XQ-4471 means the flux capacitor overheated" in [hit.text for hit in early]
    late = find(manuals, top_k=20, mode="hybrid", query_text=f"{filler} or XQ-4471", score_threshold=0.99)
    assert "Error XQ-4471 means the flux capacitor overheated" not in [hit.text for hit in late]
