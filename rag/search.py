"""Similarity search over the owner's chunks: vector (cosine) or hybrid (vector + full text, RRF).

Vector mode orders by `embedding::vector(D) <=> q::vector(D)` with `dimensions = D` in the WHERE,
the expression and predicate of that dimension's partial HNSW index (rag/models.py), so the
planner can answer from it. Owner, namespace and the metadata filter (`metadata @> filter`, served
by the GIN index) are in the same WHERE, as is an OpenAI attribute filter (`attribute_filter`,
compiled by rag/attribute_filters.py). Filters applied during an HNSW scan can leave fewer than
top_k rows among the ef_search candidates, so each search sets, for its transaction only
(SET LOCAL through set_config(…, true)), `hnsw.iterative_scan = relaxed_order`, which makes the
scan go on until LIMIT rows pass the filters, and `hnsw.ef_search` (pgvector README, "Iterative
index scans" and "Query options", https://github.com/pgvector/pgvector#iterative-index-scans).
relaxed_order may return rows slightly out of order, so the candidates are materialized and
sorted again, as the README shows. The score is the cosine similarity, 1 - cosine distance, and
`score_threshold` is applied to the top_k candidates (a distance filter inside the index scan
would defeat it).

Hybrid mode ranks two candidate lists, each of max(top_k, HYBRID_CANDIDATES) rows, from the same
filtered chunks: the vector list above, after dropping candidates whose similarity is below
`score_threshold`, and the full-text list, chunks matching `websearch_to_tsquery('english',
query_text)` ranked by `ts_rank_cd` (https://www.postgresql.org/docs/current/textsearch-controls.html).
The full-text side reads the first QUERY_WORDS_MATCHED (32) words of the query and ranks at most
TEXT_MATCHES_RANKED (1,000) matching chunks, the first the GIN index yields: its cost stays bounded
when a query's words are common (words in most chunks carry little signal anyway), and a rare
keyword, the case hybrid search is for, is ranked among all its matches. The lists are fused by
reciprocal rank fusion: score = Σ 1 / (60 + rank) over the lists a chunk is in (rank from 1;
Cormack, Clarke and Büttcher, SIGIR 2009), ties broken by chunk id. So `score_threshold` only
applies to the vector side: a chunk that matches the words is kept whatever its similarity. Fused
scores are small (at most 2/61 ≈ 0.033) and only comparable within one answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction

from rag.attribute_filters import SqlFilter
from rag.vectors import check_dimensions, vector_text

MAX_TOP_K = 100
RRF_K = 60
HYBRID_CANDIDATES = 40
# Bounds on the full-text side's work, which grows with matching rows × query terms (ts_rank_cd
# over 33,000 matches of a 100-term OR query took 9 s in bench/rag_search.py's corpus).
QUERY_WORDS_MATCHED = 32
TEXT_MATCHES_RANKED = 1000
# The HNSW candidate list per query (pgvector's default is 40); measured with `make bench-rag`.
HNSW_EF_SEARCH = 100
Mode = Literal["vector", "hybrid"]


@dataclass(frozen=True)
class Hit:
    score: float
    text: str
    metadata: dict[str, Any]
    document_id: str  # the client's id (Document.external_id)
    document_pk: int
    chunk_index: int
    namespace: str
    title: str = ""  # the document's (a vector store file's name)


def search(
    *,
    owner_id: int,
    query_vector: Sequence[float],
    query_text: str = "",
    dimensions: int,
    top_k: int = 5,
    score_threshold: float = 0.7,
    namespace: str | None = None,
    metadata_filter: dict[str, Any] | None = None,
    mode: Mode = "vector",
    attribute_filter: SqlFilter | None = None,
) -> list[Hit]:
    """The owner's best chunks for the query, best first (module docstring: modes and scores)."""
    check_dimensions(dimensions)
    if len(query_vector) != dimensions:
        raise ValueError(f"the query vector has {len(query_vector)} dimensions, not {dimensions}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    if metadata_filter is not None and not isinstance(metadata_filter, dict):
        raise ValueError("the metadata filter must be a JSON object")
    if mode not in ("vector", "hybrid"):
        raise ValueError(f"mode must be vector or hybrid, not {mode!r}")
    if mode == "hybrid" and not query_text.strip():
        raise ValueError("hybrid search needs the query text")
    params: dict[str, Any] = {
        "owner": owner_id,
        "query": vector_text(query_vector, what="the query vector"),
        "top_k": top_k,
        "threshold": score_threshold,
        "namespace": namespace,
        "filter": json.dumps(metadata_filter) if metadata_filter else None,
        "text": " ".join(query_text.split()[:QUERY_WORDS_MATCHED]),
        "candidates": max(top_k, HYBRID_CANDIDATES),
    }
    if attribute_filter is not None:  # rag/attribute_filters.py: its names all start with af_
        params.update(attribute_filter.params)
    where = {
        "namespace": namespace is not None,
        "metadata_filter": bool(metadata_filter),
        "attribute_filter": attribute_filter.sql if attribute_filter else "",
    }
    sql = hybrid_sql(dimensions, **where) if mode == "hybrid" else vector_sql(dimensions, **where)
    ef_search = max(HNSW_EF_SEARCH, params["candidates"] if mode == "hybrid" else top_k)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            [str(min(ef_search, 1000))],  # 1000 is the setting's maximum
        )
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Hit(
            score=float(score),
            text=text,
            metadata=json.loads(metadata) if isinstance(metadata, str) else metadata,  # Django reads jsonb as text
            document_id=external_id,
            document_pk=document_pk,
            chunk_index=chunk_index,
            namespace=chunk_namespace,
            title=title,
        )
        for score, text, metadata, external_id, document_pk, chunk_index, chunk_namespace, title in rows
    ]


def _filters(dimensions: int, *, namespace: bool, metadata_filter: bool, attribute_filter: str = "") -> str:
    # `dimensions` is inlined (an int from SUPPORTED_DIMENSIONS): the planner matches a partial
    # index's predicate against constants, not parameters.
    check_dimensions(dimensions)
    clauses = [f"c.dimensions = {dimensions}", "c.owner_id = %(owner)s"]
    if namespace:
        clauses.append("c.namespace = %(namespace)s")
    if metadata_filter:
        clauses.append("c.metadata @> %(filter)s::jsonb")
    if attribute_filter:
        clauses.append(f"({attribute_filter})")
    return " AND ".join(clauses)


def _nearest(dimensions: int, limit: str, *, namespace: bool, metadata_filter: bool, attribute_filter: str = "") -> str:
    """The HNSW candidates: the expression is the one the index of this dimension is built on."""
    flags: dict[str, Any] = {
        "namespace": namespace,
        "metadata_filter": metadata_filter,
        "attribute_filter": attribute_filter,
    }
    where = _filters(dimensions, **flags)
    return f"""
        SELECT c.id, c.embedding::vector({dimensions}) <=> %(query)s::vector({dimensions}) AS distance
        FROM rag_chunk c
        WHERE {where}
        ORDER BY distance
        LIMIT {limit}"""


_HIT_COLUMNS = "c.text, c.metadata, d.external_id, c.document_id, c.index, c.namespace, d.title"


def vector_sql(dimensions: int, *, namespace: bool, metadata_filter: bool, attribute_filter: str = "") -> str:
    flags: dict[str, Any] = {
        "namespace": namespace,
        "metadata_filter": metadata_filter,
        "attribute_filter": attribute_filter,
    }
    nearest = _nearest(dimensions, "%(top_k)s", **flags)
    return f"""
        WITH nearest AS MATERIALIZED ({nearest})
        SELECT 1 - n.distance AS score, {_HIT_COLUMNS}
        FROM nearest n JOIN rag_chunk c ON c.id = n.id JOIN rag_document d ON d.id = c.document_id
        WHERE 1 - n.distance >= %(threshold)s
        ORDER BY n.distance, c.id"""


def hybrid_sql(dimensions: int, *, namespace: bool, metadata_filter: bool, attribute_filter: str = "") -> str:
    flags: dict[str, Any] = {
        "namespace": namespace,
        "metadata_filter": metadata_filter,
        "attribute_filter": attribute_filter,
    }
    return f"""
        WITH nearest AS MATERIALIZED ({_nearest(dimensions, "%(candidates)s", **flags)}),
        vector_ranks AS (
            SELECT id, row_number() OVER (ORDER BY distance, id) AS rank
            FROM nearest WHERE 1 - distance >= %(threshold)s
        ),
        text_matches AS MATERIALIZED (
            SELECT c.id, c.search_vector
            FROM rag_chunk c, websearch_to_tsquery('english', %(text)s) q
            WHERE c.search_vector @@ q AND {_filters(dimensions, **flags)}
            LIMIT {TEXT_MATCHES_RANKED}
        ),
        text_ranks AS (
            SELECT m.id, row_number() OVER (ORDER BY ts_rank_cd(m.search_vector, q) DESC, m.id) AS rank
            FROM text_matches m, websearch_to_tsquery('english', %(text)s) q
            ORDER BY rank
            LIMIT %(candidates)s
        ),
        fused AS (
            SELECT coalesce(v.id, t.id) AS id,
                   coalesce(1.0 / ({RRF_K} + v.rank), 0) + coalesce(1.0 / ({RRF_K} + t.rank), 0) AS score
            FROM vector_ranks v FULL JOIN text_ranks t ON t.id = v.id
        )
        SELECT f.score, {_HIT_COLUMNS}
        FROM fused f JOIN rag_chunk c ON c.id = f.id JOIN rag_document d ON d.id = c.document_id
        ORDER BY f.score DESC, c.id
        LIMIT %(top_k)s"""
