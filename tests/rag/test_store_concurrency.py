"""Replacing a document while others search it, create it or delete it, each thread on its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection
from rag_helpers import DIMS, owner, put, unit

from rag.models import Chunk, Document
from rag.search import search
from rag.store import delete_document

pytestmark = pytest.mark.django_db(transaction=True)

GENERATIONS = 80
DEADLINE_SECONDS = 60


def generation(number: int) -> list[tuple[str, list[float]]]:
    """Generation n: 1 to 7 chunks (the count changes every time), each naming its generation."""
    return [(f"generation {number} chunk {index}", unit(1, 0.01 * index)) for index in range(1 + number % 7)]


def in_thread(work: Callable[[], None], failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def join_all(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a thread was still running at the deadline"


def test_a_search_sees_one_generation_whole_while_the_document_is_replaced() -> None:
    writer_id = owner("swapper")
    put(writer_id, "doc", generation(0))
    writing_done = threading.Event()
    readers_started = threading.Barrier(4)
    failures: list[BaseException] = []
    seen: list[int] = []

    def write() -> None:
        readers_started.wait(DEADLINE_SECONDS)
        for number in range(1, GENERATIONS + 1):
            put(writer_id, "doc", generation(number))
        writing_done.set()

    def read(mode: str) -> None:
        readers_started.wait(DEADLINE_SECONDS)
        while not writing_done.is_set():
            hits = search(
                owner_id=writer_id,
                query_vector=unit(1),
                query_text="generation chunk",
                dimensions=DIMS,
                top_k=50,
                score_threshold=-1,
                mode=mode,  # type: ignore[arg-type]
            )
            numbers = {int(hit.text.split()[1]) for hit in hits}
            assert len(numbers) == 1, f"a mix of generations: {sorted(hit.text for hit in hits)}"
            (number,) = numbers
            assert sorted(hit.chunk_index for hit in hits) == list(range(len(generation(number)))), hits
            seen.append(number)

    threads = [in_thread(write, failures)] + [in_thread(lambda m=m: read(m), failures) for m in ("vector", "hybrid")]
    threads.append(in_thread(lambda: read("vector"), failures))
    join_all(threads)
    assert not failures, failures
    assert len(set(seen)) >= 5, f"the readers saw too few generations to prove anything: {sorted(set(seen))}"
    assert sorted(Chunk.objects.values_list("text", flat=True)) == [text for text, _ in generation(GENERATIONS)]


def test_concurrent_first_writes_of_one_document_leave_one_whole_document() -> None:
    writer_id = owner("racer")
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        start.wait(DEADLINE_SECONDS)
        put(writer_id, "new", generation(number))

    join_all([in_thread(lambda n=n: write(n), failures) for n in (1, 2, 3, 4)])
    assert not failures, failures
    (document,) = Document.objects.all()
    texts = list(Chunk.objects.filter(document=document).order_by("index").values_list("text", flat=True))
    number = int(texts[0].split()[1])
    assert texts == [text for text, _ in generation(number)] and document.chunk_count == len(texts)


def test_deletes_racing_replaces_never_leave_orphans_or_fail() -> None:
    writer_id = owner("deleter")
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def replace() -> None:
        start.wait(DEADLINE_SECONDS)
        for number in range(GENERATIONS):
            put(writer_id, "doc", generation(number))

    def delete() -> None:
        start.wait(DEADLINE_SECONDS)
        for _ in range(GENERATIONS):
            delete_document(writer_id, external_id="doc")

    join_all([in_thread(replace, failures), in_thread(delete, failures)])
    assert not failures, failures
    chunks = list(Chunk.objects.values_list("document_id", "text"))
    documents = list(Document.objects.all())
    if documents:
        (document,) = documents
        assert len(chunks) == document.chunk_count and {pk for pk, _ in chunks} == {document.pk}
    else:
        assert chunks == []
