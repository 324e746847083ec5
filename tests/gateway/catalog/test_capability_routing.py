"""Capability-aware routing (gateway/catalog/capabilities.py): a request reaches only routes of its
name that can serve it, in priority order, and a 400 names what no route has.

gpt-4o is seeded with two routes: Llama 3.2 Vision first (vision, no tools, no JSON mode), Llama 3.3
70B second (tools and JSON mode, text only).
"""

from __future__ import annotations

import base64

import openai
import pytest
import requests
from conftest import error_of, usage_records
from image_origin import PNG
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)

VISION = "@cf/meta/llama-3.2-11b-vision-instruct"
LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Weather(BaseModel):
    city: str
    celsius: int


def with_image(text: str) -> list[dict]:
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": PNG_URL}}]
    return [{"role": "user", "content": parts}]


def post(gateway_url: str, api_key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def test_gpt_4o_is_seeded_with_vision_first_and_a_text_route_second(routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    seeded = ModelRoute.objects.filter(public_name="gpt-4o", task="chat").order_by("priority")
    assert [(r.upstream_model, r.priority, r.supports_vision, r.supports_json_mode) for r in seeded] == [
        (VISION, 0, True, False),
        (LLAMA_70B, 1, False, True),
    ]


@pytest.mark.filterwarnings("ignore:Cannot use method='json_schema'")
def test_langchain_structured_output_on_gpt_4o_and_images_to_vision(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    chat = ChatOpenAI(model="gpt-4o", base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0, timeout=30)

    weather = chat.with_structured_output(Weather).invoke("Paris is 21 degrees")
    seen = chat.invoke([{"role": "user", "content": with_image("What is in this picture?")[0]["content"]}])

    assert isinstance(weather, Weather)
    assert weather.city and isinstance(weather.celsius, int)
    assert seen.content  # the vision model's description
    # The vision model's first call also agrees to its licence (a refusal, the agreement, the call).
    assert routes.requests[0].model == LLAMA_70B
    assert {request.model for request in routes.requests[1:]} == {VISION}
    structured, vision = usage_records(2)
    assert (structured.upstream_model, structured.status) == (LLAMA_70B, 200)
    assert (vision.upstream_model, vision.status) == (VISION, 200)


def test_a_text_only_request_with_forced_tools_goes_to_the_text_route(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )

    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert [request.model for request in routes.requests] == [LLAMA_70B]


def test_plain_text_still_goes_to_the_first_route(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

    assert routes.requests[-1].model == VISION


def test_an_image_with_json_mode_has_no_route_and_the_400_says_why(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "gpt-4o", "messages": with_image("describe"), "response_format": {"type": "json_object"}}

    error = error_of(post(gateway_url, api_key, body), 400)

    assert "vision and JSON mode together" in error["message"]
    assert routes.requests == []
    (record,) = usage_records(1)
    assert (record.status, record.attempts) == (400, 0)


def test_a_capability_no_route_has_keeps_its_own_error(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "gpt-4-vision-preview", "messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL]}

    error = error_of(post(gateway_url, api_key, body), 400)

    assert (error["code"], error["param"]) == ("tools_not_supported", "tools")
    assert routes.requests == []


def test_images_to_a_text_only_name_are_refused_before_any_fetch(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="gpt-4", messages=with_image("hi"))

    assert caught.value.body["code"] == "model_not_vision_capable"
    assert routes.requests == []


def test_a_prompt_beyond_a_routes_context_window_skips_it(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    # gpt-4's own route holds 24,000 tokens; a second one with a larger window takes what it cannot.
    ModelRoute.objects.create(
        public_name="gpt-4",
        task="chat",
        upstream_model="@cf/meta/llama-3.2-3b-instruct",
        provider=Provider.objects.get(name="workers-ai"),
        context_window=128_000,
        priority=5,
    )
    long = "word " * 30_000  # about 37,500 tokens by the gateway's estimate

    openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": long}], max_tokens=5)
    openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])

    assert [request.model for request in routes.requests] == ["@cf/meta/llama-3.2-3b-instruct", LLAMA_70B]
