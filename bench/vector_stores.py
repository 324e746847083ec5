"""Files and vector stores under `make bench` (bench/run.py calls `vector_store_rows` with its
running server and Celery worker), issue 14.

FILES text files of ~8 kB (about 10 chunks each at OpenAI's auto chunking) are uploaded through
/v1/files, put in one store by a file batch, and polled until the batch completes: files and
chunks per second through the worker (2 threads, as `make run` starts it; the emulator embeds at
zero latency). Then, serially on one keep-alive connection, BENCH_VECTOR_STORE_REQUESTS (300)
calls per figure after a warm-up, taking turns (bench/routing.py's `_alternate`): the store's
search against RAG's search of the same namespace, and a response with the file_search tool
against the same response without it.
"""

from __future__ import annotations

import os
import statistics
import time

import requests

from bench.routing import _alternate, _caller

REQUESTS = int(os.environ.get("BENCH_VECTOR_STORE_REQUESTS", "300"))
FILES = 20
SENTENCE = "Bench file {f}, sentence {i}: vector stores keep chunks of text and their embeddings. "


def _text(index: int) -> bytes:
    return "".join(SENTENCE.format(f=index, i=i) for i in range(100)).encode()


def _ingest(session: requests.Session, base: str, headers: dict[str, str]) -> tuple[str, float, int]:
    """(store id, seconds from the batch's creation to its completion, chunks stored)."""
    ids = []
    for index in range(FILES):
        answer = session.post(
            f"{base}/v1/files",
            files={"file": (f"bench-{index}.txt", _text(index), "text/plain")},
            data={"purpose": "assistants"},
            headers=headers,
            timeout=30,
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    store = session.post(f"{base}/v1/vector_stores", json={"name": "bench"}, headers=headers, timeout=30).json()["id"]
    started = time.perf_counter()
    batch = session.post(
        f"{base}/v1/vector_stores/{store}/file_batches", json={"file_ids": ids}, headers=headers, timeout=30
    ).json()
    while batch["status"] == "in_progress":
        time.sleep(0.05)
        batch = session.get(
            f"{base}/v1/vector_stores/{store}/file_batches/{batch['id']}", headers=headers, timeout=30
        ).json()
    elapsed = time.perf_counter() - started
    if batch["file_counts"]["completed"] != FILES:
        raise RuntimeError(f"vector store bench: the batch ended {batch}")
    found = session.post(
        f"{base}/v1/rag/search",
        json={"query": "vector stores", "namespace": store, "top_k": 50, "score_threshold": -1},
        headers=headers,
        timeout=30,
    ).json()
    chunks = len({(s["document_id"], s["chunk_index"]) for s in found["sources"]})
    return store, elapsed, chunks


def vector_store_rows(base: str, headers: dict[str, str]) -> list[str]:
    with requests.Session() as session:  # one connection: every request reaches the same worker
        store, seconds, chunks_seen = _ingest(session, base, headers)
        query = "Which sentence says what vector stores keep?"
        (store_search, rag_search, with_tool, without_tool) = _alternate(
            [
                _caller(session, f"{base}/v1/vector_stores/{store}/search", {"query": query}, headers),
                _caller(
                    session,
                    f"{base}/v1/rag/search",
                    {"query": query, "namespace": store, "top_k": 10, "score_threshold": -1},
                    headers,
                ),
                _caller(
                    session,
                    f"{base}/v1/responses",
                    {
                        "model": "gpt-4",
                        "input": query,
                        "store": False,
                        "tools": [{"type": "file_search", "vector_store_ids": [store]}],
                    },
                    headers,
                ),
                _caller(session, f"{base}/v1/responses", {"model": "gpt-4", "input": query, "store": False}, headers),
            ],
            REQUESTS,
        )

    def p50(values: list[float]) -> float:
        return statistics.median(values)

    return [
        f"| vector store ingestion: {FILES} files of {len(_text(0)) // 1000} kB by one file batch on a 2-thread "
        f"worker: wall time, files/s (chunks the search sees, of 50 asked) | {seconds:.2f} s, "
        f"{FILES / seconds:.1f} files/s ({chunks_seen}) |",
        f"| vector store search / RAG search of its namespace, {REQUESTS} serial p50 | "
        f"{p50(store_search[0]):.2f} / {p50(rag_search[0]):.2f} ms |",
        f"| response with the file_search tool / without, p50, difference | {p50(with_tool[0]):.2f} / "
        f"{p50(without_tool[0]):.2f} ms, {p50(with_tool[0]) - p50(without_tool[0]):.2f} ms |",
    ]
