"""The file_search tool of /v1/responses over the owner's vector stores, through the official SDK
against the live server, files embedded by a real Celery worker; streams checked by the strict
SSE parser."""

from __future__ import annotations

import asyncio

import openai
import pytest
import requests
from conftest import make_key, usage_records
from openai import OpenAI
from responses_sse import parse_response_stream
from vector_store_helpers import CATS, fill_store, upload_three

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Why does my cat purr?"


@pytest.fixture
def files(openai_client):  # type: ignore[no-untyped-def]
    return upload_three(openai_client)


@pytest.fixture
def store(openai_client, routes, celery_worker, files):  # type: ignore[no-untyped-def]
    return fill_store(openai_client, files, name="notes")


def search_tool(store_id: str, **fields: object) -> dict:
    return {"type": "file_search", "vector_store_ids": [store_id], **fields}


def test_it_answers_from_the_file_with_a_citation(openai_client, store, files) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(
        model="gpt-4",
        input=QUESTION,
        tools=[search_tool(store.id, filters={"type": "eq", "key": "topic", "value": "pets"})],
        include=["file_search_call.results"],
    )

    call, message = response.output
    assert call.type == "file_search_call" and call.status == "completed" and call.id.startswith("fs_")
    assert call.queries == [QUESTION]
    assert [(r.file_id, r.filename, r.text) for r in call.results] == [(files["cats"], "cats.txt", CATS.decode())]
    assert call.results[0].attributes == {"topic": "pets", "year": 2024}
    assert CATS.decode() in response.output_text  # the model read the file's text
    (citation,) = message.content[0].annotations
    assert (citation.type, citation.file_id, citation.filename) == ("file_citation", files["cats"], "cats.txt")
    assert citation.index == len(response.output_text)
    assert response.tools[0].vector_store_ids == [store.id] and response.tools[0].max_num_results == 10


def test_results_only_when_included_and_the_best_file_is_cited_first(openai_client, store, files) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(model="gpt-4", input=QUESTION, tools=[search_tool(store.id)])

    call, message = response.output
    assert call.results is None
    citations = [annotation.file_id for annotation in message.content[0].annotations]
    assert citations[0] == files["cats"] and sorted(citations) == sorted(files.values())


def test_it_streams_the_search_then_the_cited_answer(gateway_url, api_key, store, files) -> None:  # type: ignore[no-untyped-def]
    body = {
        "model": "gpt-4",
        "input": QUESTION,
        "stream": True,
        "tools": [search_tool(store.id, max_num_results=1)],
        "include": ["file_search_call.results"],
    }
    with requests.post(
        f"{gateway_url}/v1/responses",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        stream=True,
        timeout=30,
    ) as answer:
        assert answer.status_code == 200
        raw = answer.content.decode()

    stream = parse_response_stream(raw)
    kinds = stream.types
    searching = [kinds.index(f"response.file_search_call.{step}") for step in ("in_progress", "searching", "completed")]
    assert searching == sorted(searching) and searching[-1] < kinds.index("response.content_part.added")
    (added,) = stream.of("response.output_text.annotation.added")
    assert added["annotation"]["file_id"] == files["cats"] and added["annotation_index"] == 0
    final = stream.last["response"]
    call, message = final["output"]
    assert call["type"] == "file_search_call" and call["results"][0]["file_id"] == files["cats"]
    assert message["content"][0]["annotations"] == [added["annotation"]]
    assert CATS.decode() in message["content"][0]["text"]


def test_the_sdk_stream_helper_gets_the_cited_answer(openai_client, store, files) -> None:  # type: ignore[no-untyped-def]
    with openai_client.responses.stream(model="gpt-4", input=QUESTION, tools=[search_tool(store.id)]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()

    assert "response.file_search_call.completed" in kinds
    assert final.output[0].type == "file_search_call"
    assert final.output[1].content[0].annotations[0].file_id == files["cats"]
    stored = openai_client.responses.retrieve(final.id)
    assert stored.output[1].content[0].annotations[0].filename == "cats.txt"


def test_tool_choice_none_searches_nothing(openai_client, store) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(
        model="gpt-4", input=QUESTION, tools=[search_tool(store.id)], tool_choice="none"
    )

    (message,) = response.output
    assert message.type == "message" and message.content[0].annotations == []
    assert response.output_text == f"Hello! You said: {QUESTION}"


def test_a_conversation_goes_on_after_a_search(openai_client, store, routes) -> None:  # type: ignore[no-untyped-def]
    first = openai_client.responses.create(model="gpt-4", input=QUESTION, tools=[search_tool(store.id)])

    second = openai_client.responses.create(model="gpt-4", input="Thanks", previous_response_id=first.id)

    assert second.output_text == "Hello! You said: Thanks"
    roles = [message["role"] for message in routes.last_request.json["messages"]]
    assert roles == ["user", "assistant", "user"]  # the earlier answer, not the search's turn


def test_another_owners_store_is_not_searched(gateway_url, store) -> None:  # type: ignore[no-untyped-def]
    stranger = OpenAI(base_url=f"{gateway_url}/v1", api_key=make_key("stranger"), max_retries=0, timeout=30)

    with pytest.raises(openai.NotFoundError) as caught:
        stranger.responses.create(model="gpt-4", input=QUESTION, tools=[search_tool(store.id)])

    assert store.id in caught.value.body["message"]


def test_one_usage_record_is_the_chat_calls(openai_client, store) -> None:  # type: ignore[no-untyped-def]
    openai_client.responses.create(model="gpt-4", input=QUESTION, tools=[search_tool(store.id)])

    (record,) = usage_records(1, endpoint="responses")
    assert record.status == 200 and record.public_model == "gpt-4" and record.prompt_tokens > 0


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "file_search"}, "tools[0].vector_store_ids"),
        ({"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 0}, "tools[0].max_num_results"),
        ({"type": "file_search", "vector_store_ids": ["vs_1"], "filters": {"type": "eq"}}, "tools[0].filters.key"),
        (
            {"type": "file_search", "vector_store_ids": ["vs_1"], "ranking_options": {"score_threshold": 2}},
            "tools[0].ranking_options.score_threshold",
        ),
    ],
)
def test_bad_file_search_tools_are_400s(openai_client, routes, tool, param) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4", input="x", tools=[tool])

    assert caught.value.body["param"] == param


def test_the_agents_sdk_file_search_tool(gateway_url, api_key, store, files) -> None:  # type: ignore[no-untyped-def]
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)  # else it exports traces to OpenAI's platform
    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30)
    librarian = agents.Agent(
        name="Librarian",
        instructions="Answer from the files.",
        tools=[agents.FileSearchTool(vector_store_ids=[store.id], max_num_results=2, include_search_results=True)],
        model=agents.OpenAIResponsesModel(model="gpt-4", openai_client=client),
    )
    try:
        result = agents.Runner.run_sync(librarian, QUESTION)
    finally:
        agents.set_tracing_disabled(False)
        asyncio.run(client.close())

    assert CATS.decode() in result.final_output
    (searched,) = [item for item in result.new_items if item.type == "tool_call_item"]
    assert searched.raw_item.type == "file_search_call" and searched.raw_item.results[0].file_id == files["cats"]
    assert result.new_items[-1].type == "message_output_item"
