"""Input limits (gateway/http/input_limits.py): each refused with a 4xx envelope naming the limit and
its setting, before anything reaches the upstream; none of them a 500."""

from __future__ import annotations

import pytest
import requests
from conftest import error_of

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]


def post(
    gateway_url: str, key: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", **(headers or {})}
    return requests.post(f"{gateway_url}{path}", json=body, headers=headers, timeout=30)


def nested(levels: int) -> str:
    return (
        '{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"metadata":' + "[" * levels + "]" * levels + "}"
    )


@pytest.mark.parametrize("levels", [70, 100_000])  # past the limit; past Python's own recursion limit
def test_a_body_nested_too_deep_is_refused(gateway_url, api_key, routes, levels) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(
        f"{gateway_url}/v1/chat/completions",
        data=nested(levels),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    error = error_of(answer, 400)
    assert error["code"] == "json_too_deep" and "64 levels" in error["message"]
    assert "GATEWAY_MAX_JSON_DEPTH" in error["message"]
    assert routes.requests == []


def test_an_array_or_a_string_past_its_limit_is_refused_naming_where(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_ARRAY_ITEMS = 4
    settings.GATEWAY_MAX_STRING_CHARS = 50

    error = error_of(post(gateway_url, api_key, "/v1/chat/completions", {"model": "gpt-4", "messages": HI * 5}), 400)
    assert (error["code"], error["param"]) == ("array_above_max_length", "messages")
    assert "maximum length 4, but got an array with length 5" in error["message"]
    assert "GATEWAY_MAX_ARRAY_ITEMS" in error["message"]

    long = [{"role": "user", "content": "x" * 51}]
    error = error_of(post(gateway_url, api_key, "/v1/chat/completions", {"model": "gpt-4", "messages": long}), 400)
    assert (error["code"], error["param"]) == ("string_above_max_length", "messages[0].content")

    inputs = {"model": "text-embedding-3-small", "input": ["a", "b", "c", "d", "e"]}
    error = error_of(post(gateway_url, api_key, "/v1/embeddings", inputs), 400)
    assert (error["code"], error["param"]) == ("array_above_max_length", "input")
    assert routes.requests == []
    assert post(gateway_url, api_key, "/v1/chat/completions", {"model": "gpt-4", "messages": HI * 4}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "a\u0000b"}, "input"),  # stored: was a 500
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "metadata": {"k\u0000": "v"}}, "metadata"),
        ("/v1/images/generations", {"model": "dall-e-2", "prompt": "a\u0000b"}, "prompt"),  # stored: was a 500
        (
            "/v1/chat/completions",
            {"model": "gpt-4", "messages": [{"role": "user", "content": "\u0000"}]},
            "messages[0].content",
        ),
    ],
)
def test_a_nul_character_anywhere_in_a_json_body_is_refused(gateway_url, api_key, routes, path, body, param) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, path, body), 400)
    assert (error["code"], error["param"]) == ("invalid_value", param)
    assert "NUL" in error["message"]
    assert routes.requests == []


def tool(name: str, properties: int = 1) -> dict:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(properties)}}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def test_tools_past_their_count_or_schema_size_are_refused(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_MAX_TOOLS = 2
    settings.GATEWAY_MAX_TOOL_SCHEMA_BYTES = 200
    body = {"model": "gpt-4", "messages": HI}

    error = error_of(
        post(gateway_url, api_key, "/v1/chat/completions", {**body, "tools": [tool("a"), tool("b"), tool("c")]}), 400
    )
    assert (error["code"], error["param"]) == ("array_above_max_length", "tools")
    assert "GATEWAY_MAX_TOOLS" in error["message"]

    error = error_of(post(gateway_url, api_key, "/v1/chat/completions", {**body, "tools": [tool("big", 20)]}), 400)
    assert (error["code"], error["param"]) == ("schema_too_large", "tools[0].function.parameters")
    assert "at most 200 are allowed (GATEWAY_MAX_TOOL_SCHEMA_BYTES)" in error["message"]
    assert routes.requests == []


def test_headers_past_their_limit_answer_431(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    headers = {f"X-Padding-{i}": "v" * 4000 for i in range(5)}  # 20 kB, each under gunicorn's per-field limit
    answer = post(gateway_url, api_key, "/v1/chat/completions", {"model": "gpt-4", "messages": HI}, headers=headers)
    error = error_of(answer, 431)
    assert error["code"] == "request_header_fields_too_large" and "GATEWAY_MAX_HEADER_BYTES" in error["message"]
    assert routes.requests == []


def test_a_multipart_body_past_its_field_or_file_count_is_refused(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
    url = f"{gateway_url}/v1/audio/transcriptions"
    bearer = {"Authorization": f"Bearer {api_key}"}
    fields = {"model": "whisper-1", "language": "en", "prompt": "p", "temperature": "0"}

    answer = requests.post(url, data=fields, files={"file": ("a.mp3", b"\xff\xfb" * 64)}, headers=bearer, timeout=30)
    error = error_of(answer, 400)
    assert error["code"] == "too_many_fields" and "GATEWAY_MAX_MULTIPART_FIELDS" in error["message"]

    two = [("file", ("a.mp3", b"\xff\xfb" * 64)), ("file", ("b.mp3", b"\xff\xfb" * 64))]
    answer = requests.post(url, data={"model": "whisper-1"}, files=two, headers=bearer, timeout=30)
    error = error_of(answer, 400)
    assert error["code"] == "too_many_files" and "GATEWAY_MAX_MULTIPART_FILES" in error["message"]
    assert routes.requests == []
