"""RAG search benchmark: `make bench-rag` (or `.venv/bin/python -m bench.rag_search`).

On a database of its own (gateway_bench_rag, migrated, dropped at the end unless BENCH_RAG_KEEP=1),
for each size in BENCH_RAG_SIZES (default 10,000 then 100,000 chunks):
- loads that many 768-d chunks with COPY (binary) in documents of 100 chunks, spread over 10
  namespaces; the vectors are random but clustered: 1,000 cluster centres sharing a common
  direction (unrelated chunks at cosine ≈ 0.3, like real text embeddings), each chunk at cosine
  ≈ 0.85 from its centre; each text holds 8 words of a 2,000-word vocabulary;
- builds the 768-d HNSW index as the migration defines it (m, ef_construction from BENCH_RAG_M and
  BENCH_RAG_EF_CONSTRUCTION, default 16 and 64), timing the build, then VACUUM ANALYZE;
- runs BENCH_RAG_QUERIES (default 200) queries, new points of the same clusters, through
  rag.search.search: vector top 10, vector top 10 in one namespace (10% of the rows, the filtered
  case iterative scans are for) and hybrid top 10; latency p50/p95 per mode, and recall@10 against
  the exact answer (the same ORDER BY on the uncast column, which no index serves);
- times replacing a 100-chunk document through rag.store (chunks inserted into the built index).
Results are printed and appended to bench/results.md with the date and machine.
"""

from __future__ import annotations

import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.embedded import postgres_url  # noqa: E402
from config.paths import data_dir  # noqa: E402

DB_NAME = "gateway_bench_rag"
DIMS = 768
SIZES = [int(size) for size in os.environ.get("BENCH_RAG_SIZES", "10000,100000").split(",")]
QUERIES = int(os.environ.get("BENCH_RAG_QUERIES", "200"))
HNSW_M = int(os.environ.get("BENCH_RAG_M", "16"))
HNSW_EF_CONSTRUCTION = int(os.environ.get("BENCH_RAG_EF_CONSTRUCTION", "64"))
BUILD_WORKERS = int(os.environ.get("BENCH_RAG_BUILD_WORKERS", "2"))  # besides the leader; Postgres's default
CHUNKS_PER_DOCUMENT, NAMESPACES, CLUSTERS, VOCABULARY = 100, 10, 1000, 2000
INDEX = f"rag_chunk_embedding_{DIMS}_hnsw"


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct))]


def _unit(values: list[float]) -> list[float]:
    norm = math.hypot(*values)
    return [value / norm for value in values]


class Corpus:
    """Clustered unit vectors (module docstring): a fixed seed, so every run loads the same data."""

    def __init__(self, seed: int = 20261126) -> None:
        self.rng = random.Random(seed)
        gauss = self.rng.gauss
        common = _unit([gauss(0, 1) for _ in range(DIMS)])
        self.centres = []
        for _ in range(CLUSTERS):
            own = _unit([gauss(0, 1) for _ in range(DIMS)])
            self.centres.append(_unit([0.7 * c + o for c, o in zip(common, own, strict=True)]))
        self.spread = 0.6 / math.sqrt(DIMS)  # noise of norm ≈ 0.6: cosine ≈ 0.86 to the centre
        self.words = [f"w{number}" for number in range(VOCABULARY)]

    def vector(self) -> list[float]:
        centre = self.centres[self.rng.randrange(CLUSTERS)]
        gauss, spread = self.rng.gauss, self.spread
        return _unit([value + gauss(0, spread) for value in centre])

    def text(self) -> str:
        return " ".join(self.rng.choice(self.words) for _ in range(8))


def _database_url(base: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    return base.replace("/postgres?", f"/{DB_NAME}?")


def _setup_django(url: str) -> int:
    """Django on the bench database, migrated; returns the bench owner's id."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CACHE_KEY_PREFIX", "bench-rag")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-rag")
    return user.pk


def _load(conn: psycopg.Connection[Any], owner_id: int, corpus: Corpus, size: int) -> float:
    from gateway.accounting.tokens import estimate_text_tokens
    from rag.pgcopy import ChunkRow, copy_chunks
    from rag.vectors import vector_binary

    conn.execute("TRUNCATE rag_chunk, rag_document RESTART IDENTITY")
    conn.execute(f"DROP INDEX IF EXISTS {INDEX}")
    documents = -(-size // CHUNKS_PER_DOCUMENT)
    now = datetime.now(UTC)

    def rows() -> Iterator[ChunkRow]:
        for position in range(size):
            document = position // CHUNKS_PER_DOCUMENT
            text = corpus.text()
            yield ChunkRow(
                document_id=document + 1,
                index=position % CHUNKS_PER_DOCUMENT,
                text=text,
                token_estimate=estimate_text_tokens(text),
                embedding=vector_binary(corpus.vector()),
                dimensions=DIMS,
                owner_id=owner_id,
                namespace=f"ns{document % NAMESPACES}",
                metadata_json=f'{{"group": {document % NAMESPACES}}}',
            )

    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(
            "COPY rag_document (id, owner_id, namespace, external_id, title, metadata, source_hash, embedding_model,"
            " dimensions, status, error, chunk_count, created_at, updated_at) FROM STDIN"
        ) as copy:
            for document in range(documents):
                copy.write_row(
                    (document + 1, owner_id, f"ns{document % NAMESPACES}", f"doc-{document}", "",
                     f'{{"group": {document % NAMESPACES}}}', "0" * 64, "@cf/baai/bge-base-en-v1.5",
                     DIMS, "ready", "", CHUNKS_PER_DOCUMENT, now, now)
                )  # fmt: skip
        copy_chunks(cursor, rows())
        cursor.execute("SELECT setval(pg_get_serial_sequence('rag_document', 'id'), %s)", (documents,))
    return time.perf_counter() - started


def _build_index(conn: psycopg.Connection[Any]) -> tuple[float, float]:
    """(seconds, MB): pgvector builds fastest when the graph fits in maintenance_work_mem (README
    "Index Build Time"); parallel workers help past that."""
    conn.execute("SET maintenance_work_mem = '2GB'")
    conn.execute(f"SET max_parallel_maintenance_workers = {BUILD_WORKERS}")
    started = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {INDEX} ON rag_chunk USING hnsw ((embedding::vector({DIMS})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dimensions = {DIMS}"
    )
    elapsed = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE rag_chunk")
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (INDEX,)).fetchone()[0]
    return elapsed, size / 2**20


def _exact(conn: psycopg.Connection[Any], query: list[float], namespace: str | None) -> set[tuple[int, int]]:
    from rag.vectors import vector_text

    where = "dimensions = %s" + (" AND namespace = %s" if namespace else "")
    params: list[Any] = [DIMS] + ([namespace] if namespace else []) + [vector_text(query)]
    rows = conn.execute(
        f"SELECT document_id, index FROM rag_chunk WHERE {where} ORDER BY embedding <=> %s::vector LIMIT 10", params
    ).fetchall()
    return {(document_id, index) for document_id, index in rows}


def _measure(
    conn: psycopg.Connection[Any], owner_id: int, corpus: Corpus, mode: str, namespace: str | None
) -> tuple[list[float], float | None]:
    """Latencies of QUERIES searches (timed back to back, so the exact searches that follow do not
    evict what they use from the caches), and their recall@10 in vector mode."""
    from rag.search import search

    rng, words = corpus.rng, corpus.words
    queries = [(corpus.vector(), f"{rng.choice(words)} {rng.choice(words)}") for _ in range(QUERIES)]
    arguments = {"owner_id": owner_id, "dimensions": DIMS, "top_k": 10, "score_threshold": -1, "mode": mode}
    for vector, text in queries[:20]:  # warm-up: connection, caches
        search(query_vector=vector, query_text=text, namespace=namespace, **arguments)
    latencies: list[float] = []
    answers = []
    for vector, text in queries:
        started = time.perf_counter()
        hits = search(query_vector=vector, query_text=text, namespace=namespace, **arguments)
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append({(hit.document_pk, hit.chunk_index) for hit in hits})
    if mode != "vector":
        return latencies, None
    pairs = zip(answers, queries, strict=True)
    found = sum(len(answer & _exact(conn, vector, namespace)) for answer, (vector, _) in pairs)
    return latencies, found / (10 * len(queries))


def _replace_time(owner_id: int, corpus: Corpus) -> float:
    """Median seconds to replace a 100-chunk document in the loaded index (rag.store, one transaction)."""
    from rag.store import ChunkInput, replace_document

    timings = []
    for attempt in range(5):
        chunks = [ChunkInput(text=corpus.text(), vector=corpus.vector()) for _ in range(CHUNKS_PER_DOCUMENT)]
        started = time.perf_counter()
        replace_document(owner_id=owner_id, namespace="ns0", external_id=f"replaced-{attempt % 2}", title="",
                         metadata={}, source_hash="0" * 64, embedding_model="@cf/baai/bge-base-en-v1.5",
                         chunks=chunks)  # fmt: skip
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _bench_env() -> str:
    names = ("BENCH_RAG_SIZES", "BENCH_RAG_QUERIES", "BENCH_RAG_M", "BENCH_RAG_EF_CONSTRUCTION", "BENCH_RAG_EF_SEARCH",
             "BENCH_RAG_BUILD_WORKERS")  # fmt: skip
    return "".join(f"{name}={os.environ[name]!r} " for name in names if name in os.environ)


def main() -> None:
    base = postgres_url(data_dir())
    url = _database_url(base)
    owner_id = _setup_django(url)
    import rag.search

    if "BENCH_RAG_EF_SEARCH" in os.environ:
        rag.search.HNSW_EF_SEARCH = int(os.environ["BENCH_RAG_EF_SEARCH"])
    corpus = Corpus()
    columns: dict[int, dict[str, str]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for size in SIZES:
                print(f"{size} chunks: loading …", flush=True)
                load = _load(conn, owner_id, corpus, size)
                print(f"{size} chunks: loaded in {load:.1f} s; building the index …", flush=True)
                build, megabytes = _build_index(conn)
                print(f"{size} chunks: index built in {build:.1f} s ({megabytes:.0f} MB); querying …", flush=True)
                column = {
                    "load: vectors generated (pure Python) and COPY-ed": f"{load:.1f} s",
                    f"HNSW build ({BUILD_WORKERS} parallel workers)": f"{build:.1f} s",
                    "HNSW index size": f"{megabytes:.0f} MB",
                }
                for label, mode, namespace in (
                    ("vector, top 10", "vector", None),
                    ("vector, top 10 in 1 of 10 namespaces", "vector", "ns3"),
                    ("hybrid, top 10", "hybrid", None),
                ):
                    latencies, recall = _measure(conn, owner_id, corpus, mode, namespace)
                    column[f"{label}: p50 / p95"] = (
                        f"{statistics.median(latencies):.2f} / {_percentile(latencies, 0.95):.2f} ms"
                    )
                    if recall is not None:
                        column[f"{label}: recall@10"] = f"{recall:.3f}"
                    print(f"{size} chunks, {label}: {column[f'{label}: p50 / p95']}, recall {recall}", flush=True)
                column["replace a 100-chunk document (rag.store), median"] = f"{_replace_time(owner_id, corpus):.2f} s"
                columns[size] = column
    finally:
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_RAG_KEEP") != "1":  # kept: to look at plans of the last size by hand
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")

    from rag.search import HNSW_EF_SEARCH

    rows = list(next(iter(columns.values())))
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} — RAG search",
        "",
        f"Command: `{_bench_env()}make bench-rag` (bench/rag_search.py). {DIMS}-d clustered unit vectors, "
        f"HNSW m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}, ef_search = {HNSW_EF_SEARCH} "
        f"(iterative scan relaxed_order); {QUERIES} queries per mode through rag.search.search, serial; "
        "recall@10 against exact search.",
        "",
        "| measure | " + " | ".join(f"{size:,} chunks" for size in columns) + " |",
        "|---|" + "---|" * len(columns),
        *(f"| {row} | " + " | ".join(column.get(row, "") for column in columns.values()) + " |" for row in rows),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    with (ROOT / "bench" / "results.md").open("a") as handle:
        handle.write(report + "\n")


if __name__ == "__main__":
    main()
