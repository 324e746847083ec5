"""OpenAI's vector stores through the official SDK against the live server, a real Celery worker
embedding the files: stores, files, batches, search with attribute filters, owners, one storage
with /v1/rag, and the usage records."""

from __future__ import annotations

import time
from datetime import timedelta

import openai
import pytest
import requests
from conftest import error_of, make_key, usage_records
from django.utils import timezone
from openai import OpenAI
from vector_store_helpers import BIKES, CATS, TEA, fill_store, upload_three

from gateway.models import UsageRecord
from rag.models import Chunk, Document, FileBatch, VectorStore

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def three_files(openai_client):  # type: ignore[no-untyped-def]
    return upload_three(openai_client)


@pytest.fixture
def filled_store(openai_client, routes, celery_worker, three_files):  # type: ignore[no-untyped-def]
    return fill_store(openai_client, three_files, name="notes", metadata={"team": "docs"})


def test_files_are_embedded_and_searched_with_a_filter(openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.retrieve(filled_store.id)
    assert store.status == "completed" and store.file_counts.completed == 3 and store.file_counts.total == 3
    assert store.usage_bytes > 0 and store.name == "notes" and store.metadata == {"team": "docs"}

    found = openai_client.vector_stores.search(store.id, query="Why does my cat purr?", max_num_results=3)
    assert found.data[0].file_id == three_files["cats"] and found.data[0].filename == "cats.txt"
    assert found.data[0].content[0].text == CATS.decode() and found.data[0].attributes == {
        "topic": "pets",
        "year": 2024,
    }
    assert found.data[0].score > found.data[-1].score

    filtered = openai_client.vector_stores.search(
        store.id,
        query="Why does my cat purr?",
        filters={
            "type": "and",
            "filters": [{"type": "gte", "key": "year", "value": 2024}, {"type": "ne", "key": "topic", "value": "pets"}],
        },
    )
    assert [result.file_id for result in filtered.data] == [three_files["tea"]]


def test_a_file_is_added_alone_and_polled(openai_client, routes, celery_worker, three_files) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.create(name="single")

    added = openai_client.vector_stores.files.create_and_poll(
        three_files["tea"],
        vector_store_id=store.id,
        attributes={"topic": "kitchen"},
        chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}},
    )

    assert added.id == three_files["tea"] and added.status == "completed" and added.last_error is None
    assert added.chunking_strategy.static.max_chunk_size_tokens == 100
    assert added.usage_bytes > 0
    listed = openai_client.vector_stores.files.list(store.id, filter="completed")
    assert [row.id for row in listed.data] == [three_files["tea"]]


def test_upload_and_poll_and_a_file_that_is_not_text_fails(openai_client, routes, celery_worker) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.create()

    good = openai_client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("ok.md", b"# Hi\n\nHello there.")
    )
    bad = openai_client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("blob.bin", bytes(range(256)) * 8)
    )

    assert good.status == "completed"
    assert bad.status == "failed" and bad.last_error.code == "unsupported_file" and bad.usage_bytes == 0
    counts = openai_client.vector_stores.retrieve(store.id).file_counts
    assert (counts.completed, counts.failed, counts.total) == (1, 1, 2)


def test_one_storage_with_rag(gateway_url, api_key, openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(
        f"{gateway_url}/v1/rag/search",
        json={"query": "green tea brewing", "namespace": filled_store.id, "score_threshold": 0},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sources"][0]["document_id"] == three_files["tea"]


def test_removing_and_deleting(openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    cats = three_files["cats"]
    deleted = openai_client.vector_stores.files.delete(cats, vector_store_id=filled_store.id)
    assert deleted.deleted and deleted.id == cats
    assert not Document.objects.filter(namespace=filled_store.id, external_id=cats).exists()
    assert openai_client.files.retrieve(cats).id == cats  # the file stays

    openai_client.files.delete(three_files["bikes"])  # a deleted file leaves every store
    assert not Chunk.objects.filter(namespace=filled_store.id, document__external_id=three_files["bikes"]).exists()
    assert openai_client.vector_stores.retrieve(filled_store.id).file_counts.total == 1

    gone = openai_client.vector_stores.delete(filled_store.id)
    assert gone.deleted and gone.object == "vector_store.deleted"
    assert not Document.objects.filter(namespace=filled_store.id).exists()
    assert openai_client.files.retrieve(three_files["tea"]).filename == "tea.txt"
    with pytest.raises(openai.NotFoundError):
        openai_client.vector_stores.retrieve(filled_store.id)


def test_attributes_are_updated_on_the_chunks_too(openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    openai_client.vector_stores.files.update(
        three_files["cats"], vector_store_id=filled_store.id, attributes={"topic": "archive"}
    )

    found = openai_client.vector_stores.search(
        filled_store.id, query="cat", filters={"type": "eq", "key": "topic", "value": "archive"}
    )
    assert [result.file_id for result in found.data] == [three_files["cats"]]


def test_another_owner_sees_nothing(gateway_url, openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    stranger = OpenAI(base_url=f"{gateway_url}/v1", api_key=make_key("stranger"), max_retries=0, timeout=30)

    assert stranger.vector_stores.list().data == [] and stranger.files.list().data == []
    for call in (
        lambda: stranger.vector_stores.retrieve(filled_store.id),
        lambda: stranger.vector_stores.search(filled_store.id, query="cat"),
        lambda: stranger.vector_stores.files.list(filled_store.id),
        lambda: stranger.vector_stores.delete(filled_store.id),
        lambda: stranger.files.retrieve(three_files["cats"]),
        lambda: stranger.files.content(three_files["cats"]),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    own = stranger.vector_stores.create(name="mine")
    with pytest.raises(openai.NotFoundError) as caught:
        stranger.vector_stores.files.create(vector_store_id=own.id, file_id=three_files["cats"])
    assert caught.value.body["param"] == "file_id"
    assert openai_client.vector_stores.retrieve(filled_store.id).file_counts.total == 3


def test_stores_are_listed_with_cursors(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    made = [openai_client.vector_stores.create(name=f"store {n}").id for n in range(5)]

    first = openai_client.vector_stores.list(limit=2)
    assert [s.id for s in first.data] == made[::-1][:2] and first.has_more
    second = openai_client.vector_stores.list(limit=2, after=first.data[-1].id)
    assert [s.id for s in second.data] == made[::-1][2:4]
    ascending = openai_client.vector_stores.list(order="asc")
    assert [s.id for s in ascending.data] == made and not ascending.has_more
    assert [s.id for s in openai_client.vector_stores.list()] == made[::-1]  # the SDK's auto-paging


def test_updates_and_expiry(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.create(name="old")

    updated = openai_client.vector_stores.update(
        store.id, name="new", metadata={"k": "v"}, expires_after={"anchor": "last_active_at", "days": 7}
    )

    assert updated.name == "new" and updated.metadata == {"k": "v"}
    assert updated.expires_after.days == 7 and updated.expires_at == updated.last_active_at + 7 * 86400


def test_ingestion_and_search_are_recorded(openai_client, filled_store) -> None:  # type: ignore[no-untyped-def]
    openai_client.vector_stores.search(filled_store.id, query="bicycle chain")

    (batch,) = usage_records(1, endpoint="vector_stores.file_batches", public_model="text-embedding-ada-002")
    (search,) = usage_records(1, endpoint="vector_stores.search")
    assert (batch.endpoint, batch.status, batch.public_model) == (
        "vector_stores.file_batches",
        200,
        "text-embedding-ada-002",
    )
    assert batch.prompt_tokens > 0 and batch.attempts >= 3  # one embedding call per file at least
    assert (search.endpoint, search.status) == ("vector_stores.search", 200) and search.prompt_tokens > 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "max_num_results": 51}, "max_num_results"),
        ({"query": "x", "filters": {"type": "near", "key": "a", "value": 1}}, "filters.type"),
        ({"query": "x", "ranking_options": {"ranker": "best"}}, "ranking_options.ranker"),
    ],
)
def test_bad_searches_are_400s(gateway_url, api_key, openai_client, routes, body, param) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.create()

    answer = requests.post(
        f"{gateway_url}/v1/vector_stores/{store.id}/search",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    assert error_of(answer, 400)["param"] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": 5}, "name"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor"),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static",
        ),
        ({"file_ids": ["file-nope"]}, "file_ids[0]"),
    ],
)
def test_bad_stores_are_refused(gateway_url, api_key, routes, body, param) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(
        f"{gateway_url}/v1/vector_stores", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )

    error = error_of(answer, 404 if param == "file_ids[0]" else 400)
    assert error["param"] == param


def test_a_cancelled_batch_embeds_nothing(openai_client, routes, celery_worker, three_files) -> None:  # type: ignore[no-untyped-def]
    store = openai_client.vector_stores.create()
    routes.set_latency(first_byte=2.0)  # every embedding call takes 2 s: the files are still in progress
    batch = openai_client.vector_stores.file_batches.create(store.id, file_ids=list(three_files.values()))
    assert batch.status == "in_progress" and batch.file_counts.in_progress == 3

    cancelled = openai_client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status in ("cancelling", "cancelled") and cancelled.file_counts.cancelled == 3

    deadline = time.monotonic() + 60
    while not UsageRecord.objects.filter(endpoint="vector_stores.file_batches").exists():
        assert time.monotonic() < deadline, "the batch's usage record was never written"
        time.sleep(0.1)
    (record,) = usage_records(1, endpoint="vector_stores.file_batches")
    # Embeddings already under way when it was cancelled were paid for and are recorded; the worker
    # (2 threads) never started the third file.
    whole = sum(-(-len(text) // 4) for text in (CATS, BIKES, TEA))
    assert record.status == 200 and record.prompt_tokens < whole
    assert not Document.objects.filter(namespace=store.id).exists()
    listed = openai_client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert sorted(row.id for row in listed.data) == sorted(three_files.values())
    assert {row.status for row in listed.data} == {"cancelled"}


def test_a_batch_lists_its_files_by_status(openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    (batch_id,) = FileBatch.objects.filter(vector_store_id=filled_store.id).values_list("pk", flat=True)

    done = openai_client.vector_stores.file_batches.list_files(
        batch_id, vector_store_id=filled_store.id, filter="completed"
    )
    assert sorted(row.id for row in done.data) == sorted(three_files.values())
    failed = openai_client.vector_stores.file_batches.list_files(
        batch_id, vector_store_id=filled_store.id, filter="failed"
    )
    assert failed.data == []
    first = openai_client.vector_stores.files.list(filled_store.id, limit=2, order="asc")
    rest = openai_client.vector_stores.files.list(filled_store.id, limit=2, order="asc", after=first.data[-1].id)
    assert first.has_more and not rest.has_more
    assert len({row.id for row in [*first.data, *rest.data]}) == 3
    before = openai_client.vector_stores.files.list(filled_store.id, order="asc", before=rest.data[0].id)
    assert [row.id for row in before.data] == [row.id for row in first.data]


def test_an_expired_store_cannot_be_searched_or_filled(openai_client, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    VectorStore.objects.filter(pk=filled_store.id).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert openai_client.vector_stores.retrieve(filled_store.id).status == "expired"
    for call in (
        lambda: openai_client.vector_stores.search(filled_store.id, query="cat"),
        lambda: openai_client.vector_stores.files.create(vector_store_id=filled_store.id, file_id=three_files["tea"]),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        assert caught.value.body["code"] == "vector_store_expired"


def test_rag_cannot_write_into_a_store(gateway_url, api_key, filled_store, three_files) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {api_key}"}
    posted = requests.post(
        f"{gateway_url}/v1/rag/documents",
        json={"text": "sneaked in", "namespace": filled_store.id},
        headers=headers,
        timeout=30,
    )
    deleted = requests.delete(
        f"{gateway_url}/v1/rag/documents/{three_files['cats']}",
        params={"namespace": filled_store.id},
        headers=headers,
        timeout=30,
    )

    for answer in (posted, deleted):
        error = error_of(answer, 400)
        assert error["param"] == "namespace" and error["code"] == "vector_store_namespace"
    assert Document.objects.filter(namespace=filled_store.id).count() == 3


def test_the_static_access_token_has_no_stores(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-token"

    answer = requests.post(
        f"{gateway_url}/v1/vector_stores",
        json={"name": "x"},
        headers={"Authorization": "Bearer static-token"},
        timeout=30,
    )

    assert error_of(answer, 403)["code"] == "owner_required"
