"""LangChain's ChatOpenAI as a second client: invoke, stream, tools, structured output, history."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


class Weather(BaseModel):
    city: str
    celsius: int


@pytest.fixture
def chat(gateway_url: str, api_key: str) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4", base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30)


def test_invoke_and_stream(chat: ChatOpenAI, routes) -> None:  # type: ignore[no-untyped-def]
    answer = chat.invoke("hi")
    streamed = list(chat.stream("hi [[unicode]]"))

    assert answer.content == "Hello! You said: hi"
    assert answer.usage_metadata["output_tokens"] == 4
    assert "".join(chunk.content for chunk in streamed) == "Grüße, 世界 🌍 ok"


def test_bind_tools_invoke_and_stream(chat: ChatOpenAI, routes) -> None:  # type: ignore[no-untyped-def]
    with_tools = chat.bind_tools([get_weather])

    answer = with_tools.invoke("[[tool]] weather in Paris?")
    chunks = list(with_tools.stream("[[tool]] weather in Paris?"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk

    assert [(call["name"], call["args"]) for call in answer.tool_calls] == [("get_weather", {"city": "example"})]
    assert answer.tool_calls[0]["id"].startswith("call_")
    assert [(call["name"], call["args"]) for call in merged.tool_calls] == [("get_weather", {"city": "example"})]
    assert routes.last_request.json["tools"][0]["function"]["name"] == "get_weather"


# LangChain warns that gpt-4 names cannot use json_schema and switches to a named tool_choice with
# parallel_tool_calls false: exactly the forced-call path this test is about.
@pytest.mark.filterwarnings("ignore:Cannot use method='json_schema'")
def test_with_structured_output_gets_an_object_not_none(chat: ChatOpenAI, routes) -> None:  # type: ignore[no-untyped-def]
    weather = chat.with_structured_output(Weather).invoke("Paris is 21 degrees")

    assert isinstance(weather, Weather)
    assert weather == Weather(city="Hello! You said: Paris is 21 degrees", celsius=1)
    assert routes.last_request.json["response_format"]["type"] == "json_schema"


@pytest.mark.workers_ai_payload
def test_a_langchain_history_with_tool_calls_round_trips(chat: ChatOpenAI, routes) -> None:  # type: ignore[no-untyped-def]
    asked = HumanMessage("[[tool]] weather in Paris?")
    call = chat.bind_tools([get_weather]).invoke([asked])
    history = [
        asked,
        AIMessage(content="", tool_calls=call.tool_calls),
        ToolMessage(content="sunny in Paris", tool_call_id=call.tool_calls[0]["id"]),
    ]

    answer = chat.bind_tools([get_weather]).invoke(history)

    assert answer.content == "Hello! You said: Tool result: sunny in Paris"
    assert not answer.tool_calls
    sent = routes.last_request.json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert json.loads(sent[1]["content"])["name"] == "get_weather"
