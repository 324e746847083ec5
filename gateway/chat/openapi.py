"""POST /v1/chat/completions in the OpenAPI document (gateway/http/openapi.py).

The body as gateway/chat/request.py reads it (https://platform.openai.com/docs/api-reference/chat/create):
fields accepted and ignored are listed as such, and unknown fields are allowed, as the parser allows them.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from gateway.http.openapi import (
    BOOLEAN,
    INTEGER,
    MODEL,
    OBJECT,
    SAMPLING,
    STREAMING,
    STRING,
    TIMESTAMP,
    USAGE,
    Schema,
    answers,
    component,
    event_stream,
    example,
    json_body,
    nullable,
)

_TEXT_PART = {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": STRING}}
_IMAGE_PART = {
    "type": "object",
    "required": ["type", "image_url"],
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "description": "An http(s) URL on a public host, or a base64 data: URL."},
                "detail": {"enum": ["auto", "low", "high"]},
            },
        },
    },
}
_TOOL_CALL = component(
    "ChatToolCall",
    {
        "type": "object",
        "required": ["id", "type", "function"],
        "properties": {
            "id": STRING,
            "type": {"const": "function"},
            "function": {
                "type": "object",
                "required": ["name", "arguments"],
                "properties": {"name": STRING, "arguments": {"type": "string", "description": "JSON text."}},
            },
        },
    },
)
_CALL_IN_HISTORY = {
    "type": "object",
    "required": ["function"],
    "properties": {
        "id": STRING,
        "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"], "properties": {"name": STRING, "arguments": STRING}},
    },
}


def _message(role: str, *, content: Schema, required: tuple[str, ...] = ("role", "content"), **more: Schema) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {"role": {"const": role}, "content": content, "name": STRING, **more},
    }


_TEXT_CONTENT = {"anyOf": [STRING, {"type": "array", "items": _TEXT_PART}]}
MESSAGE = component(
    "ChatMessage",
    {
        "description": "A message of the conversation; `developer` is read as `system`, `function` as `tool`.",
        "oneOf": [
            _message("system", content=_TEXT_CONTENT),
            _message("developer", content=_TEXT_CONTENT),
            _message(
                "user", content={"anyOf": [STRING, {"type": "array", "items": {"oneOf": [_TEXT_PART, _IMAGE_PART]}}]}
            ),
            _message(
                "assistant",
                content=nullable(_TEXT_CONTENT),
                required=("role",),
                tool_calls={"type": "array", "items": _CALL_IN_HISTORY},
            ),
            _message("tool", content=_TEXT_CONTENT, required=("role", "content", "tool_call_id"), tool_call_id=STRING),
            _message("function", content=nullable(_TEXT_CONTENT), required=("role",)),
        ],
    },
)
TOOL = component(
    "ChatTool",
    {
        "type": "object",
        "required": ["type", "function"],
        "properties": {
            "type": {"const": "function"},
            "function": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "description": STRING,
                    "parameters": {**OBJECT, "description": "A JSON Schema object."},
                    "strict": nullable(BOOLEAN),
                },
            },
        },
    },
)
_TOOL_CHOICE = {
    "anyOf": [
        {"enum": ["none", "auto", "required"]},
        {
            "type": "object",
            "required": ["type", "function"],
            "properties": {
                "type": {"const": "function"},
                "function": {"type": "object", "required": ["name"], "properties": {"name": STRING}},
            },
        },
    ],
    "description": "A named function must be among `tools`; `required` needs at least one tool.",
}
RESPONSE_FORMAT = component(
    "ResponseFormat",
    {
        "oneOf": [
            {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
            {
                "type": "object",
                "required": ["type", "json_schema"],
                "properties": {
                    "type": {"const": "json_schema"},
                    "json_schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": STRING,
                            "schema": OBJECT,
                            "strict": nullable(BOOLEAN),
                            "description": STRING,
                        },
                    },
                },
            },
        ]
    },
)

REQUEST = component(
    "CreateChatCompletionRequest",
    {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": MODEL,
            "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
            **STREAMING,
            **SAMPLING,
            "max_tokens": nullable({"type": "integer", "minimum": 1}),
            "max_completion_tokens": nullable({"type": "integer", "minimum": 1}),
            "n": nullable(
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 128,
                    "description": "At most GATEWAY_MAX_N; 1 when streaming.",
                }
            ),
            "tools": nullable({"type": "array", "items": TOOL}),
            "tool_choice": _TOOL_CHOICE,
            "parallel_tool_calls": nullable(BOOLEAN),
            "response_format": nullable(RESPONSE_FORMAT),
            "reasoning_effort": nullable({"enum": ["none", "minimal", "low", "medium", "high"]}),
            "logprobs": nullable(
                {"type": "boolean", "description": "Only false: the upstream gives no log probabilities."}
            ),
            "user": {"type": "string", "description": "Accepted and ignored."},
            "metadata": nullable({**OBJECT, "description": "Accepted and ignored."}),
            "store": nullable({"type": "boolean", "description": "Accepted and ignored."}),
            "service_tier": nullable({"type": "string", "description": "Accepted and ignored."}),
        },
    },
)

CHAT_COMPLETION = component(
    "ChatCompletion",
    {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": STRING,
            "object": {"const": "chat.completion"},
            "created": TIMESTAMP,
            "model": STRING,
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "message", "finish_reason"],
                    "properties": {
                        "index": INTEGER,
                        "message": {
                            "type": "object",
                            "required": ["role", "content"],
                            "properties": {
                                "role": {"const": "assistant"},
                                "content": nullable(STRING),
                                "refusal": nullable(STRING),
                                "tool_calls": {"type": "array", "items": _TOOL_CALL},
                                "reasoning_content": STRING,
                            },
                        },
                        "logprobs": {"type": "null"},
                        "finish_reason": nullable({"enum": ["stop", "length", "tool_calls", "content_filter"]}),
                    },
                },
            },
            "usage": USAGE,
            "system_fingerprint": nullable(STRING),
        },
    },
)

_DELTA_CALL = {
    "type": "object",
    "required": ["index"],
    "properties": {
        "index": INTEGER,
        "id": STRING,
        "type": {"const": "function"},
        "function": {"type": "object", "properties": {"name": STRING, "arguments": STRING}},
    },
}
CHUNK = component(
    "ChatCompletionChunk",
    {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": STRING,
            "object": {"const": "chat.completion.chunk"},
            "created": TIMESTAMP,
            "model": STRING,
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "delta"],
                    "properties": {
                        "index": INTEGER,
                        "delta": {
                            "type": "object",
                            "properties": {
                                "role": {"const": "assistant"},
                                "content": nullable(STRING),
                                "refusal": nullable(STRING),
                                "reasoning_content": STRING,
                                "tool_calls": {"type": "array", "items": _DELTA_CALL},
                            },
                        },
                        "logprobs": {"type": "null"},
                        "finish_reason": nullable({"enum": ["stop", "length", "tool_calls", "content_filter"]}),
                    },
                },
            },
            "usage": nullable(USAGE),
            "system_fingerprint": nullable(STRING),
        },
    },
)
ANSWERS = answers(CHAT_COMPLETION, "A chat.completion.", 403, 404, stream=event_stream(CHUNK))
CREATE = extend_schema(
    operation_id="createChatCompletion",
    summary="Create a chat completion",
    request=json_body(REQUEST),
    responses=ANSWERS,
    examples=[
        example(
            "A question",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
        )
    ],
)
