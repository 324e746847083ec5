"""The function tool the tests call (the emulator answers `[[tool]]` with a call of it): flat, as the
Responses API takes it, and nested, as chat completions do."""

from __future__ import annotations

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    },
}
CHAT_WEATHER = {"type": "function", "function": {name: value for name, value in WEATHER.items() if name != "type"}}
