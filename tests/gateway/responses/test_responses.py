"""POST /v1/responses (non-streaming) through the official SDK: text, instructions, JSON schema,
function tools, refusals and the usage record."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from conftest import error_of, usage_records
from weather_tool import WEATHER

pytestmark = pytest.mark.django_db(transaction=True)


def post(gateway_url: str, api_key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/responses", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def test_it_answers_text(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(model="gpt-4", input="Hi there")

    assert response.output_text == "Hello! You said: Hi there"
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.error is None and response.incomplete_details is None
    assert response.model == "gpt-4"
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    assert response.usage.output_tokens == 5  # "Hello! You said: Hi there": five words
    assert response.usage.total_tokens == response.usage.input_tokens + 5
    assert response.store is True and response.tool_choice == "auto" and response.tools == []
    assert routes.last_request.json["messages"] == [{"role": "user", "content": "Hi there"}]


def test_it_records_usage_under_responses(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(model="gpt-4", input="Count me")

    (record,) = usage_records(1)
    assert record.endpoint == "responses" and record.status == 200
    assert record.public_model == "gpt-4"
    assert (record.prompt_tokens, record.completion_tokens) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )


def test_instructions_reach_the_upstream_as_a_system_message(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(
        model="gpt-4",
        instructions="Answer like a pirate.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Ahoy"}]}],
        temperature=0.5,
        metadata={"ticket": "42"},
    )

    assert response.output_text == "Hello! You said: Ahoy"
    assert response.instructions == "Answer like a pirate." and response.metadata == {"ticket": "42"}
    assert response.temperature == 0.5
    assert routes.last_request.json["messages"] == [
        {"role": "system", "content": "Answer like a pirate."},
        {"role": "user", "content": "Ahoy"},
    ]


def test_a_json_schema_format_gives_json(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    response = openai_client.responses.create(
        model="gpt-4o",
        input="Invent a person.",
        text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
    )

    assert set(json.loads(response.output_text)) == {"name", "age"}
    assert response.text.format.type == "json_schema" and response.text.format.name == "person"
    assert "response_format" in routes.last_request.json


def test_a_function_tool_round_trip(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    first = openai_client.responses.create(model="gpt-4", input="[[tool]] weather in Paris?", tools=[WEATHER])

    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.id.startswith("fc_") and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "example", "unit": "celsius"}
    assert first.output_text == ""
    assert first.tools[0].name == "get_weather"

    second = openai_client.responses.create(
        model="gpt-4",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 degrees"}],
        tools=[WEATHER],
    )

    assert second.output_text == "Hello! You said: Tool result: 21 degrees"
    assert second.previous_response_id == first.id
    sent = routes.last_request.json["messages"]
    assert [message["role"] for message in sent] == ["user", "assistant", "tool"]
    assert sent[2] == {"role": "tool", "content": "21 degrees", "tool_call_id": call.call_id}


def test_a_function_call_sent_as_input_becomes_the_assistant_turn(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(
        model="gpt-4",
        input=[
            {"role": "user", "content": "[[tool]] weather in Paris?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        tools=[WEATHER],
        store=False,
    )

    assert response.output_text == "Hello! You said: Tool result: sunny"
    sent = routes.last_request.json["messages"]
    assert [message["role"] for message in sent] == ["user", "assistant", "tool"]


def test_the_token_limit_makes_it_incomplete(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(model="gpt-4", input="[[long]]", max_output_tokens=16)

    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 16 and response.max_output_tokens == 16
    assert response.output_text == "".join(f" word{i}" for i in range(1, 17)).lstrip()


def test_a_reasoning_model_gives_a_reasoning_item(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(model="gpt-3.5-turbo-16k", input="Hi")

    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary[0].text.strip() == "I should greet the user."
    assert message.type == "message" and response.output_text == "Hello! You said: Hi"


@pytest.mark.workers_ai_payload
def test_gpt_oss_gets_its_native_responses_form(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    response = openai_client.responses.create(
        model="@cf/openai/gpt-oss-120b", instructions="Be brief", input="Hi", reasoning={"effort": "high"}
    )

    sent = routes.last_request.json
    assert sent["instructions"] == "Be brief" and sent["input"] == "Hi" and "messages" not in sent
    assert sent["reasoning"] == {"effort": "high"}
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text.strip() == "I should greet the user."
    assert message.type == "message" and response.output_text == "Hello! You said: Hi"
    assert response.reasoning.effort == "high"


@pytest.mark.parametrize(
    "tool", ["web_search_preview", "code_interpreter", "image_generation", "mcp", "computer_use_preview"]
)
def test_built_in_tools_are_refused(gateway_url, api_key, routes, tool) -> None:  # type: ignore[no-untyped-def]
    answer = post(
        gateway_url,
        api_key,
        {"model": "gpt-4", "input": "Hi", "tools": [{"type": "function", "name": "f"}, {"type": tool}]},
    )

    error = error_of(answer, 400)
    assert error["param"] == "tools[1].type" and error["code"] == "unsupported_tool"
    assert tool in error["message"]
    assert routes.last_request is None


def test_file_search_on_an_unknown_store_is_a_404_before_any_model_call(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    calls = len(routes.requests)

    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.create(
            model="gpt-4", input="Hi", tools=[{"type": "file_search", "vector_store_ids": ["vs_missing"]}]
        )

    assert caught.value.body["code"] == "not_found" and "vs_missing" in caught.value.body["message"]
    assert len(routes.requests) == calls


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-4"}, "input"),
        ({"model": "gpt-4", "input": []}, "input"),
        ({"model": "gpt-4", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "gpt-4", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"model": "gpt-4", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"model": "gpt-4", "input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"model": "gpt-4", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"model": "gpt-4", "input": "x", "max_output_tokens": 4}, "max_output_tokens"),
        ({"model": "gpt-4", "input": "x", "metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"model": "gpt-4", "input": "x", "store": "yes"}, "store"),
        ({"model": "gpt-4", "input": "x", "background": True}, "background"),
        ({"model": "gpt-4", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ],
)
def test_it_rejects_bad_fields(gateway_url, api_key, routes, body, param) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, body), 400)

    assert error["param"] == param
    assert routes.last_request is None


def test_an_image_goes_to_the_vision_route(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    response = openai_client.responses.create(
        model="gpt-4o",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{pixel}"},
                ],
            }
        ],
    )

    assert response.output_text.startswith("Hello! You said: What is this?")
    assert "vision" in routes.last_request.path or "vision" in json.dumps(routes.last_request.json)


def test_a_deterministic_request_is_answered_from_the_cache(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "gpt-4", "input": "Same again", "temperature": 0}

    first, second = post(gateway_url, api_key, body), post(gateway_url, api_key, body)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert len(routes.requests) == 1
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["output"][0]["id"] != first.json()["output"][0]["id"]
    assert second.json()["output"][0]["content"] == first.json()["output"][0]["content"]


def test_the_sdk_validates_every_shape_strictly(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    strict = openai.OpenAI(
        base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30, _strict_response_validation=True
    )
    with strict:
        called = strict.responses.create(model="gpt-4", input="[[tool]] weather in Paris?", tools=[WEATHER])
        reasoned = strict.responses.create(
            model="gpt-3.5-turbo-16k", input="Hi", instructions="Greet.", reasoning={"effort": "low"}
        )
        cut = strict.responses.create(
            model="gpt-4", input="[[long]]", max_output_tokens=16, text={"format": {"type": "json_object"}}
        )
        strict.responses.retrieve(reasoned.id)
        items = strict.responses.input_items.list(called.id)

    assert called.output[0].type == "function_call"
    assert reasoned.reasoning.effort == "low" and reasoned.output[0].type == "reasoning"
    assert cut.text.format.type == "json_object"
    assert items.data[0].type == "message"
