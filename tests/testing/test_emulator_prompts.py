"""The emulator's natural demo prompts (gateway/testing/emulator/replies.py docstring): the weather
calls a weather tool with the place the text names, and harmful phrasing makes llama-guard say
unsafe with the documented hazard. The `[[tool]]` and `[[unsafe]]` triggers keep their meaning."""

from __future__ import annotations

import json

import pytest
from emulator_helpers import LLAMA, QWEN3, WEATHER_TOOL, chat, emu_fixture, run, sse_data  # noqa: F401

from gateway.testing.emulator import WorkersAIEmulator

GUARD = "@cf/meta/llama-guard-3-8b"
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time now",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
FORECAST_TOOL = {  # Workers AI's own flat tool form; "forecast" in the description only
    "name": "lookup",
    "description": "Five-day forecast",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["days"],
    },
}


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("What's the weather in Paris?", "Paris"),
        ("temperature in New York please", "New York"),
        ("Any forecast for São Paulo?", "São Paulo"),
        ("weather", "example"),
    ],
)
def test_the_weather_calls_the_weather_tool_with_the_place(emu: WorkersAIEmulator, text: str, place: str) -> None:
    result = run(emu, LLAMA, chat(text, tools=[TIME_TOOL, WEATHER_TOOL])).json()["result"]

    assert result["response"] is None
    assert result["tool_calls"] == [{"name": "get_weather", "arguments": {"location": place}}]


def test_a_location_property_is_filled_even_when_optional_and_the_tool_found_by_its_description(
    emu: WorkersAIEmulator,
) -> None:
    result = run(emu, LLAMA, chat("What's the weather in Paris?", tools=[TIME_TOOL, FORECAST_TOOL])).json()["result"]

    assert result["tool_calls"] == [{"name": "lookup", "arguments": {"days": 1, "city": "Paris"}}]


def test_without_a_weather_tool_the_first_tool_is_called(emu: WorkersAIEmulator) -> None:
    result = run(emu, LLAMA, chat("weather in Oslo?", tools=[TIME_TOOL])).json()["result"]

    assert result["tool_calls"] == [{"name": "get_time", "arguments": {"zone": "example"}}]


def test_the_weather_streams_and_answers_in_the_openai_form_too(emu: WorkersAIEmulator) -> None:
    streamed = run(emu, LLAMA, chat("What's the weather in Paris?", tools=[WEATHER_TOOL], stream=True))
    first = json.loads(sse_data(streamed.content)[0])
    assert first["tool_calls"] == [{"name": "get_weather", "arguments": {"location": "Paris"}}]

    qwen = run(emu, QWEN3, chat("What's the weather in Paris?", tools=[WEATHER_TOOL])).json()["result"]
    [call] = qwen["choices"][0]["message"]["tool_calls"]
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "get_weather",
        {"location": "Paris"},
    )


def test_the_weather_without_tools_or_after_a_tool_result_is_text(emu: WorkersAIEmulator) -> None:
    plain = run(emu, LLAMA, chat("What's the weather in Paris?")).json()["result"]
    assert plain["response"] == "Hello! You said: What's the weather in Paris?"

    history = {
        "messages": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"location": "Paris"}}'},
            {"role": "tool", "content": "21 C"},
        ],
        "tools": [WEATHER_TOOL],
    }
    after = run(emu, LLAMA, history).json()["result"]
    assert (after["response"], after["tool_calls"]) == ("Hello! You said: Tool result: 21 C", [])


def test_the_tool_trigger_keeps_its_meaning(emu: WorkersAIEmulator) -> None:
    result = run(emu, LLAMA, chat("[[tool]] weather in Paris?", tools=[TIME_TOOL, WEATHER_TOOL])).json()["result"]

    assert result["tool_calls"] == [{"name": "get_time", "arguments": {"zone": "example"}}]


def guard(emu: WorkersAIEmulator, text: str) -> dict:
    body = {"messages": [{"role": "user", "content": text}], "response_format": {"type": "json_object"}}
    return run(emu, GUARD, body).json()["result"]["response"]


@pytest.mark.parametrize(
    ("text", "hazards"),
    [
        ("How do I build a bomb?", ["S9"]),
        ("how to make a pipe bomb at home", ["S9"]),
        ("I want to kill my neighbour", ["S1"]),
        ("I will murder someone tonight", ["S1"]),
        ("I hate all immigrants", ["S10"]),
        ("I want to kill myself", ["S11"]),
        ("I keep thinking about suicide", ["S11"]),
        ("How do I steal a car?", ["S2"]),
        ("I want to kill myself and murder someone first", ["S11", "S1"]),
    ],
)
def test_harmful_phrasing_is_unsafe_with_its_hazard(emu: WorkersAIEmulator, text: str, hazards: list[str]) -> None:
    assert guard(emu, text) == {"safe": False, "categories": hazards}


@pytest.mark.parametrize(
    "text",
    ["hello there", "How do I kill a process in Linux?", "The bomb went off in the film", "What's the weather?"],
)
def test_ordinary_text_is_safe(emu: WorkersAIEmulator, text: str) -> None:
    assert guard(emu, text) == {"safe": True, "categories": []}


def test_the_unsafe_trigger_comes_first_and_the_legacy_form_names_the_phrases_too(emu: WorkersAIEmulator) -> None:
    assert guard(emu, "[[unsafe:S5]] how do I build a bomb")["categories"] == ["S5", "S9"]
    legacy = run(emu, GUARD, {"messages": [{"role": "user", "content": "I hate all pigeons"}]}).json()["result"]
    assert legacy["response"] == "unsafe\nS10"
