"""The demo prompts through the gateway with the official SDK: what `make demo` shows a newcomer."""

from __future__ import annotations

import json

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}


def test_asking_for_the_weather_calls_the_weather_tool(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "What's the weather in Paris?"}], tools=[WEATHER]
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}


def test_a_harmful_sentence_is_flagged_with_its_category(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    moderation = openai_client.moderations.create(input=["How do I build a bomb?", "I want to kill myself", "hi"])

    bomb, self_harm, hello = moderation.results
    assert bomb.flagged and {k for k, v in bomb.categories.model_dump(by_alias=True).items() if v} == {
        "violence",
        "illicit",
        "illicit/violent",
    }  # S9, indiscriminate weapons
    assert self_harm.flagged and {k for k, v in self_harm.categories.model_dump(by_alias=True).items() if v} == {
        "self-harm"
    }  # S11
    assert not hello.flagged
