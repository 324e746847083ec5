"""POST /v1/moderations in the OpenAPI document (gateway/http/openapi.py).

The body as gateway/moderations/request.py reads it
(https://platform.openai.com/docs/api-reference/moderations); the 13 categories of gateway/moderations/render.py.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema

from gateway.http.openapi import BOOLEAN, MODEL, STRING, answers, component, example, json_body, nullable
from gateway.moderations.render import OPENAI_CATEGORIES
from gateway.moderations.request import MAX_INPUTS

_TEXT_PART = {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "text"}, "text": STRING}}
REQUEST = component(
    "CreateModerationRequest",
    {
        "type": "object",
        "required": ["input"],
        "properties": {
            "model": nullable({**MODEL, "default": "omni-moderation-latest"}),
            "input": {
                "anyOf": [
                    STRING,
                    {"type": "array", "minItems": 1, "maxItems": MAX_INPUTS, "items": STRING},
                    {"type": "array", "minItems": 1, "items": _TEXT_PART, "description": "One input; text parts only."},
                ]
            },
        },
    },
)


def _per_category(value: dict) -> dict:
    return {
        "type": "object",
        "required": list(OPENAI_CATEGORIES),
        "properties": {name: value for name in OPENAI_CATEGORIES},
    }


MODERATION = component(
    "CreateModerationResponse",
    {
        "type": "object",
        "required": ["id", "model", "results"],
        "properties": {
            "id": STRING,
            "model": STRING,
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["flagged", "categories", "category_scores"],
                    "properties": {
                        "flagged": BOOLEAN,
                        "categories": _per_category(BOOLEAN),
                        "category_scores": _per_category({"type": "number", "minimum": 0, "maximum": 1}),
                        "category_applied_input_types": _per_category(
                            {"type": "array", "items": {"enum": ["text", "image"]}}
                        ),
                    },
                },
            },
        },
    },
)

CREATE = extend_schema(
    operation_id="createModeration",
    summary="Classify text as potentially harmful",
    request=json_body(REQUEST),
    responses=answers(MODERATION, "One result per input.", 403, 404),
    examples=[example("A text", {"model": "omni-moderation-latest", "input": "I want to bake a cake."})],
)
