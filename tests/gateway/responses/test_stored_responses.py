"""Stored responses: retrieval, deletion, input items, previous_response_id, owners, store=false."""

from __future__ import annotations

import openai
import pytest
import requests
from conftest import error_of, make_key
from openai import OpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(gateway_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0, timeout=30)


def test_it_retrieves_what_it_answered(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Keep me", metadata={"a": "b"})

    fetched = openai_client.responses.retrieve(created.id)

    assert fetched.model_dump() == created.model_dump()
    assert fetched.output_text == "Hello! You said: Keep me"


def test_another_key_of_the_same_owner_reads_it(gateway_url, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Shared within the owner")

    with client_for(gateway_url, make_key()) as sibling:  # make_key() again: same owner, new key
        assert sibling.responses.retrieve(created.id).id == created.id


def test_it_deletes(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Forget me")

    answer = openai_client.responses.with_raw_response.delete(created.id)

    assert answer.http_response.json() == {"id": created.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.delete(created.id)


def test_store_false_keeps_nothing(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Ephemeral", store=False)

    assert created.store is False
    answer = requests.get(
        f"{gateway_url}/v1/responses/{created.id}", headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )
    error = error_of(answer, 404)
    assert error["code"] == "not_found" and created.id in error["message"]


def test_input_items_are_listed_with_ids(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(
        model="gpt-4",
        input=[
            {"role": "developer", "content": "Be kind."},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )

    newest_first = openai_client.responses.input_items.list(created.id)
    texts = [item.content[0].text for item in newest_first.data]
    assert texts == ["three", "two", "one", "Be kind."]
    assert all(item.id.startswith("msg_") for item in newest_first.data)
    assert newest_first.data[1].role == "assistant" and newest_first.data[1].content[0].type == "output_text"
    assert newest_first.first_id == newest_first.data[0].id and newest_first.last_id == newest_first.data[-1].id
    assert newest_first.has_more is False

    page = openai_client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [item.content[0].text for item in page.data] == ["Be kind.", "one"] and page.has_more is True
    rest = openai_client.responses.input_items.list(created.id, order="asc", limit=2, after=page.last_id)
    assert [item.content[0].text for item in rest.data] == ["two", "three"] and rest.has_more is False


def test_input_items_refuse_a_bad_limit(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="x")

    answer = requests.get(
        f"{gateway_url}/v1/responses/{created.id}/input_items?limit=101",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    assert error_of(answer, 400)["param"] == "limit"


def test_previous_response_id_continues_the_conversation(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    first = openai_client.responses.create(model="gpt-4", instructions="Talk like a pirate.", input="My name is Ann.")
    second = openai_client.responses.create(model="gpt-4", previous_response_id=first.id, input="Who am I?")
    third = openai_client.responses.create(
        model="gpt-4", previous_response_id=second.id, instructions="Be terse.", input="Again?"
    )

    assert third.output_text == "Hello! You said: Again?"
    # The earlier turns, inputs and outputs; the first response's instructions are not carried over.
    assert routes.last_request.json["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "My name is Ann."},
        {"role": "assistant", "content": "Hello! You said: My name is Ann."},
        {"role": "user", "content": "Who am I?"},
        {"role": "assistant", "content": "Hello! You said: Who am I?"},
        {"role": "user", "content": "Again?"},
    ]
    assert [item.content[0].text for item in openai_client.responses.input_items.list(third.id).data] == ["Again?"]


def test_a_long_conversation_is_read_in_one_statement_and_a_deleted_turn_ends_it(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gateway.models import StoredResponse

    previous = None
    ids = []
    for turn in range(12):
        previous = openai_client.responses.create(model="gpt-4", input=f"Turn {turn}", previous_response_id=previous)
        previous = previous.id
        ids.append(previous)
    last = StoredResponse.objects.get(pk=ids[-1])
    with CaptureQueriesContext(connection) as queries:
        chain = StoredResponse.objects.conversation(last.pk, last.owner_id, last.api_key_id, limit=1000)
    assert [row.pk for row in chain] == ids and len(queries) == 1
    assert StoredResponse.objects.conversation(last.pk, last.owner_id, last.api_key_id, limit=3)[0].pk == ids[-3]
    sent = [message["content"] for message in routes.last_request.json["messages"]]
    assert sent[::2] == [f"Turn {turn}" for turn in range(12)]  # the 11 earlier turns and this one

    openai_client.responses.delete(ids[5])
    openai_client.responses.create(model="gpt-4", input="Turn 12", previous_response_id=ids[-1])

    sent = [message["content"] for message in routes.last_request.json["messages"]]
    assert sent[::2] == [f"Turn {turn}" for turn in range(6, 13)]  # starts after the deleted turn


def test_an_unknown_previous_response_is_a_404(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    unstored = openai_client.responses.create(model="gpt-4", input="x", store=False)

    for missing in (unstored.id, "resp_nothing"):
        answer = requests.post(
            f"{gateway_url}/v1/responses",
            json={"model": "gpt-4", "input": "y", "previous_response_id": missing},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        error = error_of(answer, 404)
        assert error["param"] == "previous_response_id" and error["code"] == "previous_response_not_found"


def test_another_owner_sees_nothing(gateway_url, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Mine alone")
    stranger = make_key("stranger")
    headers = {"Authorization": f"Bearer {stranger}"}
    calls = len(routes.requests)

    for method, path in (
        ("GET", created.id),
        ("DELETE", created.id),
        ("GET", f"{created.id}/input_items"),
    ):
        answer = requests.request(method, f"{gateway_url}/v1/responses/{path}", headers=headers, timeout=30)
        assert error_of(answer, 404)["code"] == "not_found"
    answer = requests.post(
        f"{gateway_url}/v1/responses",
        json={"model": "gpt-4", "input": "Whose?", "previous_response_id": created.id},
        headers=headers,
        timeout=30,
    )
    assert error_of(answer, 404)["param"] == "previous_response_id"
    assert len(routes.requests) == calls  # no upstream call for the refused continuation
    assert openai_client.responses.retrieve(created.id).id == created.id  # still there for its owner


def test_it_needs_a_key(gateway_url, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="x")

    assert error_of(requests.get(f"{gateway_url}/v1/responses/{created.id}", timeout=30), 401)
