"""The OpenAI Agents SDK (openai-agents) runs an agent with a function tool against the live gateway,
over its Responses model: the model calls the tool, the SDK runs it and sends the output back, and
the agent reaches a final answer, streamed and not, and continued by previous_response_id."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from conftest import usage_records

pytestmark = pytest.mark.django_db(transaction=True)

agents = pytest.importorskip("agents")


@pytest.fixture(autouse=True)
def no_tracing() -> Iterator[None]:
    # The SDK otherwise exports traces to OpenAI's platform from a background thread.
    agents.set_tracing_disabled(True)
    yield
    agents.set_tracing_disabled(False)


@pytest.fixture
def weather_agent(gateway_url: str, api_key: str):  # type: ignore[no-untyped-def]
    from openai import AsyncOpenAI

    asked: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        asked.append(city)
        return f"21 degrees in {city}"

    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30)
    agent = agents.Agent(
        name="Weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model="gpt-4", openai_client=client),
    )
    yield agent, asked
    asyncio.run(client.close())


def test_an_agent_calls_its_tool_and_answers(weather_agent, routes) -> None:  # type: ignore[no-untyped-def]
    agent, asked = weather_agent

    result = agents.Runner.run_sync(agent, "What is the weather in Paris?")

    assert asked == ["Paris"]
    assert result.final_output == "Hello! You said: Tool result: 21 degrees in Paris"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    # Two model turns, each one request through the chat path, each recorded once.
    assert len(result.raw_responses) == 2
    records = usage_records(2)
    assert [record.endpoint for record in records] == ["responses", "responses"]
    assert all(record.status == 200 for record in records)
    sent = routes.last_request.json["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "tool"]
    assert sent[-1]["content"] == "21 degrees in Paris"


def test_a_streamed_agent_run_reaches_the_same_answer(weather_agent, routes) -> None:  # type: ignore[no-untyped-def]
    agent, asked = weather_agent

    async def run() -> tuple[str, list[str]]:
        streamed = agents.Runner.run_streamed(agent, "What is the weather in Lyon?")
        deltas = []
        async for event in streamed.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                deltas.append(event.data.delta)
        return streamed.final_output, deltas

    final, deltas = asyncio.run(run())

    assert asked == ["Lyon"]
    assert final == "Hello! You said: Tool result: 21 degrees in Lyon"
    assert "".join(deltas) == final  # the text arrived as output_text deltas, then the final answer
    assert [record.streamed for record in usage_records(2)] == [True, True]


def test_an_agent_continues_a_stored_conversation(weather_agent, routes) -> None:  # type: ignore[no-untyped-def]
    agent, asked = weather_agent
    first = agents.Runner.run_sync(agent, "What is the weather in Oslo?")

    second = agents.Runner.run_sync(agent, "Thanks", previous_response_id=first.last_response_id)

    assert second.final_output == "Hello! You said: Thanks"
    assert asked == ["Oslo"]
    # The gateway rebuilt the earlier turns from its store (the tool round trip went upstream again);
    # the system message is this request's instructions, the earlier turn's are not carried over.
    sent = routes.last_request.json["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[-1]["content"] == "Thanks"
