"""POST /v1/responses with stream=true: the events on the wire (read strictly by responses_sse), the
official SDK's stream helpers, tools, reasoning, the token limit, failures and the usage record."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from conftest import error_of, usage_records
from responses_sse import parse_response_stream
from weather_tool import WEATHER

pytestmark = pytest.mark.django_db(transaction=True)


def stream(gateway_url: str, api_key: str, **body: object) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/responses",
        json={"model": "gpt-4", "stream": True, **body},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )


def test_it_streams_text_as_named_events(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    answer = stream(gateway_url, api_key, input="Hi there")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    events = parse_response_stream(answer.text)
    assert events.types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert events.types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = events.of("response.output_text.delta")
    assert len(deltas) > 1 and all(delta["logprobs"] == [] and delta["content_index"] == 0 for delta in deltas)
    text = "".join(delta["delta"] for delta in deltas)
    assert text == "Hello! You said: Hi there"
    assert events.of("response.output_text.done")[0]["text"] == text
    completed = events.last["response"]
    assert completed["status"] == "completed" and completed["id"] == events.events[0]["response"]["id"]
    assert completed["output"][0]["content"][0]["text"] == text
    assert completed["usage"]["output_tokens"] == 5
    assert "[DONE]" not in answer.text


def test_the_sdk_reads_the_events(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    events = list(openai_client.responses.create(model="gpt-4", input="Hi there", stream=True))

    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[0].response.status == "in_progress"
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Hello! You said: Hi there"
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "Hello! You said: Hi there"


def test_the_stream_helper_gives_the_final_response_and_stores_it(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    plain = openai_client.responses.create(model="gpt-4", input="Say it again")
    with openai_client.responses.stream(model="gpt-4", input="Say it again") as streamed:
        texts = [event.delta for event in streamed if event.type == "response.output_text.delta"]
        final = streamed.get_final_response()

    assert final.output_text == plain.output_text == "".join(texts)
    assert final.status == "completed" and final.usage.output_tokens == plain.usage.output_tokens
    stored = openai_client.responses.retrieve(final.id)
    assert stored.output_text == final.output_text and stored.output[0].id == final.output[0].id


def test_store_false_keeps_nothing(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with openai_client.responses.stream(model="gpt-4", input="Forget me", store=False) as streamed:
        final = streamed.get_final_response()

    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(final.id)


def test_a_tool_call_streams_as_a_function_call_item(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    events = parse_response_stream(stream(gateway_url, api_key, input="[[tool]] weather?", tools=[WEATHER]).text)

    (added,) = [event for event in events.of("response.output_item.added") if event["item"]["type"] == "function_call"]
    assert added["item"]["arguments"] == "" and added["item"]["name"] == "get_weather"
    deltas = events.of("response.function_call_arguments.delta")
    (done,) = events.of("response.function_call_arguments.done")
    assert "".join(delta["delta"] for delta in deltas) == done["arguments"]
    assert json.loads(done["arguments"]) == {"city": "example", "unit": "celsius"}
    (call,) = [item for item in events.last["response"]["output"] if item["type"] == "function_call"]
    assert call["id"] == added["item"]["id"] and call["status"] == "completed"

    with openai_client.responses.stream(model="gpt-4", input="[[tool]] weather?", tools=[WEATHER]) as streamed:
        final = streamed.get_final_response()
    (sdk_call,) = [item for item in final.output if item.type == "function_call"]
    assert sdk_call.name == "get_weather" and json.loads(sdk_call.arguments)["city"] == "example"


def test_a_reasoning_model_streams_its_summary_first(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    events = parse_response_stream(stream(gateway_url, api_key, model="gpt-3.5-turbo-16k", input="Hi").text)

    reasoning, message = events.last["response"]["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert message["type"] == "message"
    summary = "".join(delta["delta"] for delta in events.of("response.reasoning_summary_text.delta"))
    assert summary.strip() == "I should greet the user."
    (part_added,) = events.of("response.reasoning_summary_part.added")
    assert part_added["summary_index"] == 0 and part_added["part"] == {"type": "summary_text", "text": ""}
    assert events.of("response.reasoning_summary_text.done")[0]["text"] == summary
    assert events.of("response.reasoning_summary_part.done")[0]["part"]["text"] == summary
    assert reasoning["summary"] == [{"type": "summary_text", "text": summary}]
    assert events.types.index("response.reasoning_summary_part.done") < events.types.index(
        "response.content_part.added"
    )

    strict = openai.OpenAI(
        base_url=openai_client.base_url,
        api_key=openai_client.api_key,
        max_retries=0,
        timeout=30,
        _strict_response_validation=True,
    )
    with strict, strict.responses.stream(model="gpt-3.5-turbo-16k", input="Hi") as streamed:
        final = streamed.get_final_response()
    assert final.output[0].type == "reasoning" and final.output_text == "Hello! You said: Hi"


def test_the_token_limit_ends_it_incomplete(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    events = parse_response_stream(stream(gateway_url, api_key, input="[[long]]", max_output_tokens=16).text)

    assert events.last["type"] == "response.incomplete"
    response = events.last["response"]
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["usage"]["output_tokens"] == 16

    sdk_events = list(
        openai_client.responses.create(model="gpt-4", input="[[long]]", max_output_tokens=16, stream=True)
    )
    assert sdk_events[-1].type == "response.incomplete"
    assert sdk_events[-1].response.output_text == "".join(f" word{i}" for i in range(1, 17)).lstrip()


def test_an_upstream_failure_mid_stream_ends_it_failed(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # [[slow]] keeps the upstream silent 2 s mid-stream, beyond this provider's read timeout.
    from gateway.models import Provider, StoredResponse

    provider = Provider.objects.get(name="workers-ai")
    provider.read_timeout = 1
    provider.save()
    answer = stream(gateway_url, api_key, input="hi [[slow]]")

    assert answer.status_code == 200
    events = parse_response_stream(answer.text)
    assert events.last["type"] == "response.failed"
    failed = events.last["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_timeout"
    assert failed["error"]["message"]
    assert "response.completed" not in events.types and "ping" in events.comments
    (record,) = usage_records(1)
    assert record.status == 504 and record.error_code == "upstream_timeout" and record.streamed is True
    assert not StoredResponse.objects.filter(pk=failed["id"]).exists()


def test_a_refusal_before_the_stream_is_a_plain_http_error(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(400, 5006, "Invalid input", times=1)

    error = error_of(stream(gateway_url, api_key, input="Hi"), 400)

    assert error["message"]
    (record,) = usage_records(1)
    assert record.endpoint == "responses" and record.status == 400


def test_it_records_one_usage_record(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    events = parse_response_stream(stream(gateway_url, api_key, input="Count me").text)

    (record,) = usage_records(1)
    usage = events.last["response"]["usage"]
    assert record.endpoint == "responses" and record.streamed is True and record.status == 200
    assert (record.prompt_tokens, record.completion_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert record.client_disconnected is False


def test_stream_must_be_a_boolean(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(stream(gateway_url, api_key, input="Hi", stream="yes"), 400)

    assert error["param"] == "stream"
    assert routes.last_request is None


def test_a_client_that_leaves_gets_nothing_stored(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import StoredResponse

    routes.set_latency(per_chunk=0.05)
    answer = requests.post(
        f"{gateway_url}/v1/responses",
        json={"model": "gpt-4", "stream": True, "input": "[[long]]"},
        headers={"Authorization": f"Bearer {api_key}"},
        stream=True,
        timeout=30,
    )
    lines = answer.iter_lines()
    received = [next(lines) for _ in range(18)]  # six events, a text delta among them
    answer.close()  # the client goes away after a few events

    (record,) = usage_records(1)
    assert any(b"response.output_text.delta" in line for line in received)
    assert record.client_disconnected is True and record.streamed is True
    assert 0 < record.completion_tokens < 400
    assert StoredResponse.objects.count() == 0
