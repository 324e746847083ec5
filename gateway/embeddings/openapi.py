"""POST /v1/embeddings in the OpenAPI document (gateway/http/openapi.py).

The body as gateway/embeddings/request.py reads it (https://platform.openai.com/docs/api-reference/embeddings).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from gateway.http.openapi import INTEGER, MODEL, STRING, answers, component, example, json_body, nullable

_TOKENS = {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}}
REQUEST = component(
    "CreateEmbeddingRequest",
    {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": MODEL,
            "input": {
                "anyOf": [
                    {"type": "string", "pattern": r"\S"},
                    {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "pattern": r"\S"}},
                    _TOKENS,
                    {"type": "array", "minItems": 1, "maxItems": 2048, "items": _TOKENS},
                ],
                "description": "Text, texts, or token arrays of the model's tokenizer; no input may be blank.",
            },
            "encoding_format": nullable({"enum": ["float", "base64"]}),
            "dimensions": nullable({"type": "integer", "minimum": 1}),
            "user": {"type": "string", "description": "Accepted and ignored."},
        },
    },
)
EMBEDDINGS = component(
    "CreateEmbeddingResponse",
    {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["object", "index", "embedding"],
                    "properties": {
                        "object": {"const": "embedding"},
                        "index": INTEGER,
                        "embedding": {
                            "anyOf": [
                                {"type": "array", "items": {"type": "number"}},
                                {"type": "string", "description": "base64 of little-endian float32."},
                            ]
                        },
                    },
                },
            },
            "model": STRING,
            "usage": {
                "type": "object",
                "required": ["prompt_tokens", "total_tokens"],
                "properties": {"prompt_tokens": INTEGER, "total_tokens": INTEGER},
            },
        },
    },
)

CREATE = extend_schema(
    operation_id="createEmbedding",
    summary="Create embeddings",
    request=json_body(REQUEST),
    responses=answers(EMBEDDINGS, "The embeddings, in input order.", 403, 404),
    examples=[example("Two texts", {"model": "text-embedding-3-small", "input": ["first text", "second text"]})],
)
