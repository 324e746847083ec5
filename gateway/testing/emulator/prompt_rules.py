"""What the words of a user message make the emulated models do, beyond the plain reply rule
(replies.py): tool-call arguments, and the natural prompts that show features in a demo.

Natural prompts for demos (`make demo`), matched case-insensitively; the `[[…]]` triggers of
replies.py win over them:
- The weather: a user text mentioning "weather", "forecast" or "temperature", with `tools` on a
  function-calling model → a call of the first tool whose name or description mentions the
  weather (else the first tool). Its arguments are example_value's, plus every
  location-like property (a name containing location, city, place or town) set to the place
  the text names after "in", "for" or "at" ("What's the weather in Paris?" → "Paris";
  "temperature in New York" → "New York"), or "example" when it names none.
- Harmful phrasing → llama-guard says unsafe, with the hazard of the first rule that matches
  (several rules can match one text: each adds its hazard, in this order):

  | Hazard | Phrases (examples)                                                     |
  |--------|------------------------------------------------------------------------|
  | S11    | "kill myself", "suicide", "end my life"                                |
  | S9     | "build/make a bomb", "… an explosive", "… a bioweapon", "… nerve gas"   |
  | S1     | "kill/murder/stab/shoot" + someone, somebody, him, her, them, a person, |
  |        | people, my <anyone> ("how do I kill my neighbour")                      |
  | S10    | "hate all <group>", "<group> are vermin"                               |
  | S2     | "steal a car", "shoplift", "launder money"                             |

  Anything else is safe: "how do I kill a process" or "the bomb went off in the film" is not
  flagged (the S1 and S9 rules want a person, or building the weapon).
"""

from __future__ import annotations

import re
from typing import Any


def example_value(schema: Any, text: str = "example") -> Any:
    """A deterministic value satisfying a (simple) JSON schema; strings become `text`."""
    if not isinstance(schema, dict):
        return text
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        names = schema.get("required", list(props))
        return {name: example_value(props.get(name, {}), text) for name in names}
    simple = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "null": None}
    return simple.get(kind, text)


_WEATHER = re.compile(r"\b(weather|forecast|temperature)s?\b", re.IGNORECASE)
# The place a question names: "in Paris", "for New York", "at São Paulo" (capitalised words).
_PLACE = re.compile(r"\b(?:in|for|at)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")
_LOCATION_WORDS = ("location", "city", "place", "town")


def function_of(tool: Any) -> dict[str, Any]:
    return tool.get("function", tool) if isinstance(tool, dict) else {}


def weather_tool(tools: list[Any]) -> dict[str, Any]:
    functions = [function_of(tool) for tool in tools]
    for function in functions:
        about = f"{function.get('name', '')} {function.get('description', '')}".lower()
        if "weather" in about or "forecast" in about:
            return function
    return functions[0]


def weather_arguments(parameters: Any, user: str) -> dict[str, Any]:
    """example_value of the tool's parameters, with every location-like property (required or
    not) set to the place the user text names, else "example"."""
    arguments = example_value(parameters)
    if not isinstance(arguments, dict) or not isinstance(parameters, dict):
        return {} if not isinstance(arguments, dict) else arguments
    found = _PLACE.search(user)
    place = found.group(1) if found else "example"
    for name, schema in (parameters.get("properties") or {}).items():
        kind = schema.get("type", "string") if isinstance(schema, dict) else "string"
        if any(word in name.lower() for word in _LOCATION_WORDS) and kind == "string":
            arguments[name] = place
    return arguments


def wants_weather(user: str) -> bool:
    return _WEATHER.search(user) is not None


_UNSAFE = re.compile(r"\[\[unsafe(?::([^\]]*))?\]\]")


_PERSON = r"(?:someone|somebody|him|her|them|a (?:person|man|woman|child|kid)|people|my \w+)"
# The module docstring's table, in its order: (hazard, phrase).
HARMFUL_PHRASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("S11", re.compile(r"\b(?:kill(?:ing)? myself|suicide|end my (?:own )?life)\b", re.IGNORECASE)),
    (
        "S9",
        re.compile(
            r"\b(?:build|make|making|building)\b(?:\s+\w+){0,3}?\s+(?:bombs?|explosives?|bioweapons?|nerve gas)\b",
            re.IGNORECASE,
        ),
    ),
    ("S1", re.compile(rf"\b(?:kill|murder|stab|shoot)\s+{_PERSON}", re.IGNORECASE)),
    ("S10", re.compile(r"\bhate all \w+|\b\w+ are vermin\b", re.IGNORECASE)),
    ("S2", re.compile(r"\b(?:steal(?:ing)? a car|shoplift(?:ing)?|launder(?:ing)? money)\b", re.IGNORECASE)),
)


def hazards_in(user_text: str) -> list[str]:
    """The S-codes the trigger phrases name, in order ("[[unsafe]]" alone means S1), then those of
    the harmful phrases the text contains (the module docstring's table)."""
    named: list[str] = []
    for match in _UNSAFE.finditer(user_text):
        codes = match.group(1).split(",") if match.group(1) is not None else ["S1"]
        for code in (c.strip().upper() for c in codes):
            if code and code not in named:
                named.append(code)
    text = user_text.replace("\u2019", "'")
    for code, phrase in HARMFUL_PHRASES:
        if code not in named and phrase.search(text):
            named.append(code)
    return named
