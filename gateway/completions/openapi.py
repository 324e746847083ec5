"""POST /v1/completions (legacy) in the OpenAPI document (gateway/http/openapi.py).

The body as gateway/completions/request.py reads it
(https://platform.openai.com/docs/api-reference/completions/create).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from gateway.http.openapi import (
    BOOLEAN,
    INTEGER,
    MODEL,
    SAMPLING,
    STREAMING,
    STRING,
    TIMESTAMP,
    USAGE,
    answers,
    component,
    event_stream,
    example,
    json_body,
    nullable,
)

REQUEST = component(
    "CreateCompletionRequest",
    {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": MODEL,
            "prompt": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                ],
                "description": "Token-array prompts are refused: the gateway has no tokenizer for the upstream.",
            },
            **STREAMING,
            **SAMPLING,
            "max_tokens": nullable({"type": "integer", "minimum": 1, "default": 16}),
            "n": nullable(
                {"type": "integer", "minimum": 1, "maximum": 128, "description": "prompts × n ≤ GATEWAY_MAX_N."}
            ),
            "best_of": nullable({"type": "integer", "minimum": 1, "maximum": 20, "description": "Only equal to n."}),
            "echo": nullable(BOOLEAN),
            "suffix": nullable({"type": "string", "maxLength": 0, "description": "Only empty: no insertion upstream."}),
            "logprobs": {"type": "null", "description": "Not available from the upstream."},
            "user": {"type": "string", "description": "Accepted and ignored."},
        },
    },
)

_CHOICE = {
    "type": "object",
    "required": ["text", "index", "finish_reason"],
    "properties": {
        "text": STRING,
        "index": INTEGER,
        "logprobs": {"type": "null"},
        "finish_reason": nullable({"enum": ["stop", "length", "content_filter"]}),
    },
}


def _completion(name: str, *, usage: dict) -> dict:
    return component(
        name,
        {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": STRING,
                "object": {"const": "text_completion"},
                "created": TIMESTAMP,
                "model": STRING,
                "choices": {"type": "array", "items": _CHOICE},
                "usage": usage,
            },
        },
    )


COMPLETION = _completion("Completion", usage=USAGE)
CHUNK = _completion("CompletionChunk", usage=nullable(USAGE))

CREATE = extend_schema(
    operation_id="createCompletion",
    summary="Create a completion (legacy)",
    request=json_body(REQUEST),
    responses=answers(COMPLETION, "A text_completion.", 403, 404, stream=event_stream(CHUNK)),
    examples=[example("A prompt", {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time", "max_tokens": 16})],
)
