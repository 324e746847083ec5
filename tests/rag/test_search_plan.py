"""The planner answers vector search from the HNSW index of the query's dimension at a realistic size."""

from __future__ import annotations

import math
import random
import re

import pytest
from django.db import connection
from rag_helpers import owner, put

from rag.models import hnsw_index_name
from rag.search import hybrid_sql, search, vector_sql
from rag.vectors import vector_text

pytestmark = pytest.mark.django_db

DIMS = 768
DOCUMENTS, CHUNKS_PER_DOCUMENT = 6, 500


def unit_vector(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in values))
    return [value / norm for value in values]


def clustered(rng: random.Random, centres: list[list[float]]) -> list[float]:
    """A unit vector near one of the centres (cosine about 0.9), as embeddings of related texts are."""
    centre = rng.choice(centres)
    return unit_vector([value + rng.gauss(0, 0.5 / math.sqrt(DIMS)) for value in centre])


@pytest.fixture
def corpus() -> tuple[int, list[list[float]]]:
    """The owner and ten query vectors, over 3000 chunks in 20 clusters, analysed."""
    rng = random.Random(7)
    centres = [unit_vector([rng.gauss(0, 1) for _ in range(DIMS)]) for _ in range(20)]
    reader = owner("planner")
    for number in range(DOCUMENTS):
        chunks = [(f"chunk {index} of {number}", clustered(rng, centres)) for index in range(CHUNKS_PER_DOCUMENT)]
        put(reader, f"doc-{number}", chunks, namespace="ns" if number % 2 else "default")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rag_chunk")
    return reader, [clustered(rng, centres) for _ in range(10)]


def plan(sql: str, params: dict[str, object]) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def params(owner_id: int, query: list[float], **extra: object) -> dict[str, object]:
    values = {"owner": owner_id, "query": vector_text(query), "top_k": 5, "threshold": 0.0, "candidates": 40}
    return {**values, **extra}


def test_vector_search_uses_the_hnsw_index_of_its_dimension(corpus: tuple[int, list[list[float]]]) -> None:
    reader, (query, *_) = corpus
    text = plan(vector_sql(DIMS, namespace=False, metadata_filter=False), params(reader, query))
    # The index yields rows in distance order: LIMIT reads straight from it, with no Sort between.
    assert re.search(rf"Limit .*\n\s+->  Index Scan using {hnsw_index_name(DIMS)} on rag_chunk", text), text

    filtered = plan(vector_sql(DIMS, namespace=True, metadata_filter=False), params(reader, query, namespace="ns"))
    assert f"Index Scan using {hnsw_index_name(DIMS)}" in filtered, filtered

    hybrid = plan(hybrid_sql(DIMS, namespace=False, metadata_filter=False), params(reader, query, text="chunk"))
    assert f"Index Scan using {hnsw_index_name(DIMS)}" in hybrid, hybrid


def test_the_indexed_search_finds_the_exact_nearest(corpus: tuple[int, list[list[float]]]) -> None:
    reader, queries = corpus
    found = 0
    for query in queries:
        hits = search(owner_id=reader, query_vector=query, dimensions=DIMS, top_k=10, score_threshold=-1)
        with connection.cursor() as cursor:
            cursor.execute(  # no cast to vector(768): no index matches, so this is the exact answer
                "SELECT text, 1 - (embedding <=> %s::vector) FROM rag_chunk ORDER BY 2 DESC LIMIT 10",
                [vector_text(query)],
            )
            exact = dict(cursor.fetchall())
        assert len(hits) == 10
        found += sum(hit.text in exact for hit in hits)
        for hit in hits:  # every score is the true similarity, whichever rows the index found
            if hit.text in exact:
                assert hit.score == pytest.approx(exact[hit.text], abs=1e-6)
    assert found / (10 * len(queries)) >= 0.9  # recall@10 (bench/rag_search.py measures it at scale)
