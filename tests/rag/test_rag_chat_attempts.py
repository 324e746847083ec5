"""A /v1/rag/chat usage record is the chat call's: its route and attempts, never the query
embedding's (which runs first, through its own fallbacks), unless the embedding's failure is the answer."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from conftest import PERSISTENT, error_of, sse_events, usage_records

from gateway.models import ModelRoute

pytestmark = pytest.mark.django_db(transaction=True)

CATS = "Cats are small domesticated felines. The cat sat on the mat and purred all afternoon."
LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
BGE_BASE = "@cf/baai/bge-base-en-v1.5"  # text-embedding-ada-002, RAG's default embedding model


def rag(gateway_url: str, key: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/rag/{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def ask(gateway_url: str, key: str, **fields: Any) -> requests.Response:
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "Where did the cat sit?"}], **fields}
    return rag(gateway_url, key, "chat", {"rag_score_threshold": 0.2, **body})


def route_id(public_name: str) -> int:
    return ModelRoute.objects.get(public_name=public_name, task="chat").pk


@pytest.fixture
def stored(gateway_url: str, api_key: str, routes: Any) -> None:
    assert rag(gateway_url, api_key, "documents", {"text": CATS}).status_code == 200
    routes.reset()


def test_a_rag_chat_record_has_the_chat_calls_route_and_one_attempt(gateway_url, api_key, routes, stored) -> None:  # type: ignore[no-untyped-def]
    answer = ask(gateway_url, api_key)

    assert answer.status_code == 200, answer.text
    assert answer.json()["rag_sources"]
    assert [request.model for request in routes.requests] == [BGE_BASE, LLAMA_70B]  # embedding, then chat
    (record,) = usage_records(1, endpoint="rag.chat")
    assert (record.attempts, record.route_id, record.upstream_model) == (1, route_id("gpt-4"), LLAMA_70B)
    # The query's embedding tokens are not the record's: it counts what the client was told.
    assert record.prompt_tokens == answer.json()["usage"]["prompt_tokens"]


def test_a_streamed_rag_chat_record_has_the_chat_calls_route_and_one_attempt(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, stored
) -> None:
    answer = ask(gateway_url, api_key, stream=True)

    assert answer.status_code == 200
    assert sse_events(answer.content)[0]["rag_sources"]
    (record,) = usage_records(1, endpoint="rag.chat")
    assert (record.attempts, record.route_id, record.upstream_model) == (1, route_id("gpt-4"), LLAMA_70B)


def test_a_retried_embedding_adds_nothing_to_the_attempts_and_a_retried_chat_does(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, stored
) -> None:
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=BGE_BASE, times=1)
    assert ask(gateway_url, api_key).status_code == 200
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=1)
    assert ask(gateway_url, api_key, messages=[{"role": "user", "content": "And the mat?"}]).status_code == 200

    assert [request.model for request in routes.requests] == [BGE_BASE, BGE_BASE, LLAMA_70B, BGE_BASE] + [LLAMA_70B] * 2
    records = usage_records(2, endpoint="rag.chat")
    assert [(record.attempts, record.route_id) for record in records] == [
        (1, route_id("gpt-4")),
        (2, route_id("gpt-4")),
    ]


def test_an_embedding_that_fails_for_good_is_the_records_route_and_attempts(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, stored
) -> None:
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=BGE_BASE, times=PERSISTENT)

    error_of(ask(gateway_url, api_key), 429)

    assert [request.model for request in routes.requests] == [BGE_BASE, BGE_BASE]  # no chat call
    (record,) = usage_records(1, endpoint="rag.chat")
    embedding_route = ModelRoute.objects.get(public_name="text-embedding-ada-002").pk
    assert (record.status, record.attempts, record.route_id, record.upstream_model) == (
        429, 2, embedding_route, BGE_BASE,
    )  # fmt: skip
