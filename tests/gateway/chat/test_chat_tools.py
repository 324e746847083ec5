"""Tool calling and JSON mode on /v1/chat/completions, through the SDK and on the wire."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from conftest import error_of, sse_events
from weather_tool import CHAT_WEATHER as WEATHER

pytestmark = pytest.mark.django_db(transaction=True)

TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
}
ASK = [{"role": "user", "content": "[[tool]] weather in Paris?"}]


def test_a_native_tool_call_comes_back_as_openai_tool_calls(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(model="gpt-4", messages=ASK, tools=[WEATHER])

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example", "unit": "celsius"}
    sent = routes.last_request.json
    assert sent["tools"] == [WEATHER]
    assert "tool_choice" not in sent and "parallel_tool_calls" not in sent


def test_a_streamed_tool_call_arrives_as_proper_deltas(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    raw = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": ASK, "tools": [WEATHER], "stream": True},
        headers={"Authorization": f"Bearer {api_key}"},
    ).content

    events = sse_events(raw)
    deltas = [e["choices"][0]["delta"] for e in events]
    tool_deltas = [delta["tool_calls"][0] for delta in deltas if "tool_calls" in delta]
    first, rest = tool_deltas[0], tool_deltas[1:]
    assert first["index"] == 0 and first["type"] == "function" and first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert rest and all(set(d) == {"index", "function"} and set(d["function"]) == {"arguments"} for d in rest)
    assert json.loads("".join(d["function"]["arguments"] for d in rest)) == {"city": "example", "unit": "celsius"}
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert raw.endswith(b"data: [DONE]\n\n")


def test_the_sdk_accumulates_a_streamed_tool_call(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with openai_client.chat.completions.stream(model="gpt-4", messages=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()

    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example", "unit": "celsius"}
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.workers_ai_payload
@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_calling_loop_completes(openai_client, routes, stream) -> None:  # type: ignore[no-untyped-def]
    first = openai_client.chat.completions.create(model="gpt-4", messages=ASK, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "21 degrees"},
    ]

    if stream:
        chunks = list(
            openai_client.chat.completions.create(model="gpt-4", messages=history, tools=[WEATHER], stream=True)
        )
        reply = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        second = openai_client.chat.completions.create(model="gpt-4", messages=history, tools=[WEATHER])
        reply, finish = second.choices[0].message.content, second.choices[0].finish_reason

    assert reply == "Hello! You said: Tool result: 21 degrees"
    assert finish == "stop"
    sent = routes.last_request.json["messages"]
    assert sent[1]["role"] == "assistant"
    assert json.loads(sent[1]["content"]) == {"name": "get_weather", "arguments": json.loads(call.function.arguments)}
    assert sent[2] == {"role": "tool", "content": "21 degrees", "tool_call_id": call.id}


def test_tool_choice_none_sends_no_tools(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(model="gpt-4", messages=ASK, tools=[WEATHER], tool_choice="none")

    assert completion.choices[0].message.content == "Hello! You said: [[tool]] weather in Paris?"
    assert "tools" not in routes.last_request.json


@pytest.mark.workers_ai_payload
@pytest.mark.parametrize("stream", [False, True])
def test_a_named_tool_choice_is_forced_through_json_mode(openai_client, routes, stream) -> None:  # type: ignore[no-untyped-def]
    request = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "Paris, please"}],
        "tools": [WEATHER, TIME],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    }
    if stream:
        with openai_client.chat.completions.stream(**request) as events:
            message = events.get_final_completion().choices[0].message
    else:
        message = openai_client.chat.completions.create(**request).choices[0].message

    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Hello! You said: Paris, please", "unit": "celsius"}
    sent = routes.last_request.json
    assert "tools" not in sent and "stream" not in sent
    assert sent["response_format"] == {"type": "json_schema", "json_schema": WEATHER["function"]["parameters"]}
    assert sent["messages"][0]["role"] == "system" and "get_weather" in sent["messages"][0]["content"]


@pytest.mark.workers_ai_payload
def test_required_with_several_tools_lets_the_model_pick_one(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}], tools=[TIME, WEATHER], tool_choice="required"
    )

    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "get_time"  # the emulator picks the enum's first name
    assert json.loads(call.function.arguments) == {}
    schema = routes.last_request.json["response_format"]["json_schema"]
    assert schema["properties"]["name"]["enum"] == ["get_time", "get_weather"]


def test_tools_on_a_model_without_tool_support_are_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": ASK, "tools": [WEATHER]},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    error = error_of(response, 400)
    assert error["code"] == "tools_not_supported" and error["param"] == "tools"
    assert routes.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": {"not": "a list"}}, "tools"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format.json_schema"),
    ],
)
def test_malformed_tool_requests_are_400s(gateway_url, api_key, routes, body, param) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": ASK, **body},
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert error_of(response, 400)["param"] == param


def test_json_object_mode_returns_a_json_string(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi as json"}], response_format={"type": "json_object"}
    )

    assert json.loads(completion.choices[0].message.content) == {"answer": "Hello! You said: hi as json"}
    assert routes.last_request.json["response_format"] == {"type": "json_object"}


@pytest.mark.workers_ai_payload
def test_json_schema_mode_streams_valid_json_chunks(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    raw = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={
            "model": "gpt-4",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
            "stream": True,
        },
        headers={"Authorization": f"Bearer {api_key}"},
    ).content

    events = sse_events(raw)
    content = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert json.loads(content) == {"city": "Hello! You said: hi"}
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    sent = routes.last_request.json
    assert sent["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert "stream" not in sent  # JSON mode does not stream upstream: fetched whole, replayed


def test_json_mode_on_a_model_without_it_is_refused(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="gpt-4-vision-preview",
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        )

    assert caught.value.body["code"] == "json_mode_not_supported"
    assert routes.requests == []
