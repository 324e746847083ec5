"""The core's own /v1 operations in the OpenAPI document: models and the key's usage report
(gateway/http/views.py; https://platform.openai.com/docs/api-reference/models)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema

from gateway.http.openapi import INTEGER, NUMBER, STRING, TIMESTAMP, answers, component, list_object, nullable

MODEL_OBJECT = component(
    "Model",
    {
        "type": "object",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {"id": STRING, "object": {"const": "model"}, "created": TIMESTAMP, "owned_by": STRING},
    },
)

LIST_MODELS = extend_schema(
    operation_id="listModels",
    summary="List the models this key may use",
    responses=answers(list_object(MODEL_OBJECT), "The models, by public name."),
)
RETRIEVE_MODEL = extend_schema(
    operation_id="retrieveModel",
    summary="Retrieve a model",
    parameters=[
        OpenApiParameter("model_id", str, OpenApiParameter.PATH, description="A public model name; may hold '/'.")
    ],
    responses=answers(MODEL_OBJECT, "The model.", 404),
)

_TOTALS = {
    "type": "object",
    "required": ["requests", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"],
    "properties": {
        "requests": INTEGER,
        "errors": INTEGER,
        "prompt_tokens": INTEGER,
        "completion_tokens": INTEGER,
        "total_tokens": INTEGER,
        "audio_seconds": NUMBER,
        "characters": INTEGER,
        "images": INTEGER,
        "cost_usd": NUMBER,
        "cost_saved_usd": NUMBER,
        "cached_requests": INTEGER,
        "estimated_requests": INTEGER,
        "unpriced_requests": INTEGER,
    },
}
_LIMIT_PAIR = {"type": "object", "properties": {"rpm": nullable(INTEGER), "tpm": nullable(INTEGER)}}
_BUDGET = nullable(
    {
        "type": "object",
        "required": ["limit", "used", "remaining"],
        "properties": {"limit": NUMBER, "used": NUMBER, "remaining": NUMBER},
    }
)
USAGE_REPORT = component(
    "UsageReport",
    {
        "type": "object",
        "required": ["object", "key", "start", "end", "totals", "models", "limits", "quota"],
        "properties": {
            "object": {"const": "usage"},
            "key": {"type": "object", "required": ["name", "prefix"], "properties": {"name": STRING, "prefix": STRING}},
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date"},
            "totals": _TOTALS,
            "models": {
                "type": "array",
                "items": {**_TOTALS, "properties": {**_TOTALS["properties"], "model": nullable(STRING)}},
            },
            "limits": {
                "type": "object",
                "properties": {
                    "rpm": nullable(INTEGER),
                    "tpm": nullable(INTEGER),
                    "models": {"type": "object", "additionalProperties": _LIMIT_PAIR},
                },
            },
            "quota": nullable(
                {
                    "type": "object",
                    "required": ["period", "period_start", "resets_at", "tokens", "usd"],
                    "properties": {
                        "period": STRING,
                        "period_start": {"type": "string", "format": "date"},
                        "resets_at": {"type": "string", "format": "date-time"},
                        "tokens": _BUDGET,
                        "usd": _BUDGET,
                    },
                }
            ),
        },
    },
)


def _day(name: str, default: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, {"type": "string", "format": "date"}, OpenApiParameter.QUERY, description=f"YYYY-MM-DD (UTC); {default}."
    )


USAGE = extend_schema(
    operation_id="retrieveUsage",
    summary="This key's usage, limits and quota",
    parameters=[_day("start", "default: end"), _day("end", "default: today")],
    responses=answers(USAGE_REPORT, "Totals over start..end (at most 366 days), by model."),
)
