"""The RAG endpoints over HTTP: documents, search (vector and hybrid), RAG chat, isolation per owner."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, sse_events, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

CATS = "Cats are small domesticated felines. The cat sat on the mat and purred all afternoon."
STOCKS = "Stock markets fell sharply on Monday as investors sold technology shares."
LOW = 0.2  # the emulator's vectors score shared words, not meaning: thresholds for its scale


def call(gateway_url: str, key: str, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    return requests.request(
        method,
        f"{gateway_url}/v1/rag/{path}",
        json=body,
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def store(gateway_url: str, key: str, text: str, doc_id: str, **fields: Any) -> dict[str, Any]:
    answer = call(gateway_url, key, "POST", "documents", {"text": text, "metadata": {"docId": doc_id}, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def search(gateway_url: str, key: str, query: str, **fields: Any) -> dict[str, Any]:
    answer = call(gateway_url, key, "POST", "search", {"query": query, "score_threshold": LOW, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_originals_document_shape_stores_and_search_finds_it(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    stored = store(gateway_url, api_key, CATS, "cats", namespace="pets")
    store(gateway_url, api_key, STOCKS, "stocks", namespace="pets")

    assert stored == {"success": True, "document_id": "cats", "namespace": "pets", "chunks_processed": 1}
    found = search(gateway_url, api_key, "where did the cat sit", namespace="pets")
    assert found["query"] == "where did the cat sit"
    assert [source["document_id"] for source in found["sources"]][0] == "cats"
    first = found["sources"][0]
    assert first["text"] == CATS and first["chunk_index"] == 0 and first["metadata"] == {"docId": "cats"}
    assert 0 < first["score"] <= 1
    assert found["context"].startswith(CATS)
    embedded = [request.json["text"] for request in routes.requests]
    assert embedded[:2] == [[CATS], [STOCKS]]


def test_hybrid_search_finds_an_exact_keyword(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats")
    store(gateway_url, api_key, STOCKS, "stocks")

    found = search(gateway_url, api_key, "technology", mode="hybrid", score_threshold=0.9)
    assert [source["document_id"] for source in found["sources"]] == ["stocks"]


def test_a_metadata_filter_and_namespaces_narrow_the_search(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats-a", metadata={"docId": "cats-a", "lang": "en"})
    store(gateway_url, api_key, CATS + " Again.", "cats-b", metadata={"docId": "cats-b", "lang": "fr"})

    found = search(gateway_url, api_key, "the cat sat on the mat", filter={"lang": "fr"})
    assert [source["document_id"] for source in found["sources"]] == ["cats-b"]
    assert search(gateway_url, api_key, "the cat sat on the mat", namespace="elsewhere")["sources"] == []


def test_another_owners_key_sees_nothing(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats")
    other = make_key("other-owner")
    same_owner = make_key("test")  # make_key("test") is api_key's owner: a second key of that owner

    assert search(gateway_url, same_owner, "the cat sat on the mat")["sources"] != []
    assert search(gateway_url, other, "the cat sat on the mat")["sources"] == []
    assert error_of(call(gateway_url, other, "GET", "documents/cats"), 404)["code"] == "document_not_found"
    assert error_of(call(gateway_url, other, "DELETE", "documents/cats"), 404)["code"] == "document_not_found"
    assert call(gateway_url, other, "GET", "documents").json()["data"] == []
    chat = call(gateway_url, other, "POST", "chat", {"model": "gpt-4", "messages": [{"role": "user", "content": CATS}],
                                                     "rag_score_threshold": LOW})  # fmt: skip
    assert chat.json()["rag_sources"] == []
    assert call(gateway_url, api_key, "GET", "documents/cats").status_code == 200  # still there for its owner


def test_list_get_and_delete(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats", title="On cats")
    store(gateway_url, api_key, STOCKS, "stocks", namespace="finance")

    listed = call(gateway_url, api_key, "GET", "documents").json()
    assert [item["document_id"] for item in listed["data"]] == ["stocks", "cats"]
    assert (
        call(gateway_url, api_key, "GET", "documents", namespace="finance").json()["data"][0]["namespace"] == "finance"
    )
    page = call(gateway_url, api_key, "GET", "documents", limit=1).json()
    assert page["has_more"] is True
    rest = call(gateway_url, api_key, "GET", "documents", limit=1, cursor=page["next_cursor"]).json()
    assert [item["document_id"] for item in rest["data"]] == ["cats"]
    one = call(gateway_url, api_key, "GET", "documents/cats").json()
    assert (one["title"], one["chunks"], one["dimensions"]) == ("On cats", 1, 768)

    deleted = call(gateway_url, api_key, "DELETE", "documents/cats")
    assert deleted.json() == {"object": "rag.document.deleted", "document_id": "cats", "deleted": True}
    assert error_of(call(gateway_url, api_key, "GET", "documents/cats"), 404)["param"] is None
    assert search(gateway_url, api_key, "the cat sat on the mat")["sources"] == []
    assert call(gateway_url, api_key, "GET", "documents/stocks", namespace="finance").status_code == 200


def test_reposting_an_id_replaces_the_document(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    long_text = " ".join(f"Sentence number {i} about cats and mats." for i in range(120))
    first = store(gateway_url, api_key, long_text, "doc")
    second = store(gateway_url, api_key, STOCKS, "doc")

    assert first["chunks_processed"] > 3 and second["chunks_processed"] == 1
    found = search(gateway_url, api_key, "stock markets fell sharply")
    assert [(source["text"], source["document_id"]) for source in found["sources"]] == [(STOCKS, "doc")]
    assert search(gateway_url, api_key, "sentence number about cats and mats")["sources"] == []


def test_rag_chat_puts_the_context_before_the_last_user_message(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats")
    routes.reset()
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Where did the cat sit?"},
    ]
    answer = call(gateway_url, api_key, "POST", "chat", {"model": "gpt-4", "messages": messages,
                                                         "rag_score_threshold": LOW})  # fmt: skip

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert [source["document_id"] for source in body["rag_sources"]] == ["cats"]
    sent = routes.requests[-1].json["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "system", "user"]
    assert CATS in sent[3]["content"] and sent[4]["content"] == "Where did the cat sit?"
    (record,) = usage_records(1, endpoint="rag.chat")
    assert record.upstream_model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast" and record.status == 200


def test_rag_chat_streams_with_the_sources_in_the_first_chunk(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats")
    answer = call(gateway_url, api_key, "POST", "chat", {"model": "gpt-4", "stream": True, "rag_score_threshold": LOW,
                  "messages": [{"role": "user", "content": "Where did the cat sit?"}]})  # fmt: skip

    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(answer.content)
    assert [source["document_id"] for source in events[0]["rag_sources"]] == ["cats"]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("rag_sources" not in event for event in events[1:])
    assert "".join(event["choices"][0]["delta"].get("content") or "" for event in events if event["choices"])


def test_rag_chat_through_the_sdk(openai_client, api_key, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    store(gateway_url, api_key, CATS, "cats")
    reply = openai_client.post(
        "/rag/chat",
        cast_to=dict,
        body={"model": "gpt-4", "messages": [{"role": "user", "content": "Where did the cat sit?"}],
              "rag_score_threshold": LOW},
    )  # fmt: skip
    assert reply["rag_sources"][0]["document_id"] == "cats"
    assert reply["choices"][0]["message"]["content"]


def test_the_static_access_token_has_no_owner_for_documents(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-token"
    error = error_of(call(gateway_url, "static-token", "POST", "documents", {"text": CATS}), 403)
    assert error["code"] == "owner_required"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("documents", {}, "text"),
        ("documents", {"text": "   "}, "text"),
        ("documents", {"text": "x", "metadata": []}, "metadata"),
        ("documents", {"text": "x", "chunk_size": 500, "chunk_overlap": 500}, "chunk_overlap"),
        ("documents", {"text": "x", "document_id": ""}, "document_id"),
        ("documents", {"text": "a\x00b"}, "text"),
        ("search", {"query": "a\x00b"}, "query"),
        ("search", {}, "query"),
        ("search", {"query": "x", "mode": "fuzzy"}, "mode"),
        ("search", {"query": "x", "top_k": 51}, "top_k"),
        ("search", {"query": "x", "filter": {"a": [1]}}, "filter"),
        ("search", {"query": "x", "embedding_model": "gpt-4"}, "model"),
        ("chat", {"model": "gpt-4", "messages": [{"role": "system", "content": "x"}]}, "messages"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(gateway_url, api_key, routes, path, body, param) -> None:  # type: ignore[no-untyped-def]
    answer = call(gateway_url, api_key, "POST", path, body)
    assert error_of(answer, 400)["param"] == param, answer.text
    assert json.loads(answer.text)["error"]["message"]


def test_a_concurrent_search_never_sees_a_mix_of_old_and_new_chunks(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    generations = {
        "alpha": " ".join(f"Alpha passage {i} talks about alpha things at length." for i in range(60)),
        "beta": " ".join(f"Beta passage {i} is about beta." for i in range(30)),
    }
    sizes = {word: store(gateway_url, api_key, text, "doc")["chunks_processed"] for word, text in generations.items()}
    assert sizes["alpha"] != sizes["beta"]
    seen: list[tuple[str, ...]] = []
    done = threading.Event()

    def reader() -> None:
        session = requests.Session()
        while not done.is_set():
            answer = session.post(
                f"{gateway_url}/v1/rag/search",
                json={"query": "alpha beta passage", "top_k": 50, "score_threshold": -1},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=30,
            )
            texts = [source["text"] for source in answer.json()["sources"]]
            seen.append(tuple(sorted({"alpha" if "Alpha" in text else "beta" for text in texts})) + (len(texts),))

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    for round_ in range(8):
        word = "alpha" if round_ % 2 else "beta"
        store(gateway_url, api_key, generations[word], "doc")
    done.set()
    for thread in readers:
        thread.join(timeout=30)

    assert len(seen) > 8
    assert set(seen) <= {("alpha", sizes["alpha"]), ("beta", sizes["beta"])}


def test_records_carry_the_latency_of_documents_and_searches(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.set_latency(first_byte=0.05)
    store(gateway_url, api_key, CATS, "cats")
    search(gateway_url, api_key, "cat")

    records = usage_records(2)
    assert [record.endpoint for record in records] == ["rag.documents", "rag.search"]
    assert all(record.latency_ms >= 50 for record in records)
