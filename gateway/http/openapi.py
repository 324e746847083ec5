"""The OpenAPI 3.1 description of /v1 (drf-spectacular), served at /openapi.json with /docs/.

The views parse bodies with their families' own typed parsers, not DRF serializers, so each family
describes its operations with raw JSON Schema in its `openapi.py` (`@extend_schema_view` on the view
class). Shared pieces live here:

- `component(name, schema)` names a schema once; the document's components are filled from these
  by `finish_document`, a drf-spectacular postprocessing hook (config/api_docs.py); `link()` chains
  operations for schemathesis's stateful test.
- `ERROR` is the OpenAI error envelope every refusal carries; `refusals()` maps statuses to it.
- The bearer key scheme is declared for the gateway's own authentication class.

The schemas describe what the gateway accepts and answers, open to extra fields where OpenAI's
objects are (clients must ignore unknown fields), so tests/gateway/http/test_openapi_fuzz.py can
hold every answer to them with schemathesis.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.request import Request
from rest_framework.response import Response

Schema = dict[str, Any]

_components: dict[str, Schema] = {}
_links: dict[str, dict[str, Schema]] = {}  # source operationId → link name → OpenAPI link object


def component(name: str, schema: Schema) -> Schema:
    """A reference to `schema`, registered under `name` in the document's components."""
    known = _components.setdefault(name, schema)
    if known is not schema:
        raise ValueError(f"two OpenAPI components are named {name}")
    return {"$ref": f"#/components/schemas/{name}"}


def link(source: str, target: str, **parameters: str) -> None:
    """Declare that `target` can follow a success of `source`, its parameters taken from that answer
    (runtime expressions such as `$response.body#/id`): schemathesis's stateful test chains them."""
    _links.setdefault(source, {})[target] = {"operationId": target, "parameters": parameters}


def only_v1(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular preprocessing hook: the API is /v1 (the schema view itself is not in it)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def finish_document(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: paths spelled as OpenAI spells them (the routes' optional
    trailing slash dropped), bodies required, links attached, and the named components in name order."""
    result["paths"] = {path.rstrip("/"): item for path, item in result["paths"].items()}
    for item in result["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:  # a raw schema's body is not marked required by drf-spectacular
                operation["requestBody"]["required"] = True
            follows = _links.get(operation["operationId"])
            if follows:
                success = next(status for status in sorted(operation["responses"]) if status.startswith("2"))
                operation["responses"][success]["links"] = follows
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name in sorted(_components):
        schemas.setdefault(name, _components[name])
    return result


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
OBJECT = {"type": "object"}  # any JSON object: OpenAI's `metadata`, a tool's parameters …
TIMESTAMP = {"type": "integer", "description": "Unix seconds."}

MODEL = {"type": "string", "minLength": 1, "description": "A public model name (GET /v1/models)."}
STOP = {
    "anyOf": [STRING, {"type": "array", "items": STRING, "maxItems": 4}, {"type": "null"}],
    "description": "Up to 4 sequences where generation stops.",
}
SAMPLING = {
    "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
    "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
    "seed": nullable({"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}),
    "frequency_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "presence_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "stop": STOP,
}
STREAMING = {
    "stream": nullable({"type": "boolean", "description": "Answer as server-sent events."}),
    "stream_options": nullable({"type": "object", "properties": {"include_usage": BOOLEAN}}),
}
USAGE = component(
    "Usage",
    {
        "type": "object",
        "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
        "properties": {
            "prompt_tokens": {"type": "integer", "minimum": 0},
            "completion_tokens": {"type": "integer", "minimum": 0},
            "total_tokens": {"type": "integer", "minimum": 0},
        },
    },
)


ERROR = component(
    "Error",
    {
        "type": "object",
        "description": "OpenAI's error envelope (https://platform.openai.com/docs/guides/error-codes).",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": STRING,
                    "type": STRING,
                    "param": nullable(STRING),
                    "code": nullable(STRING),
                },
            }
        },
    },
)


def event_stream(payload: Schema, *, done: bool = True) -> Schema:
    """One server-sent event of a stream (OpenAPI 3.1 reads an event stream's schema per event):
    its `data` is JSON, `payload` or the error envelope a stream that fails ends with, or the
    final `[DONE]` when `done`."""
    json_data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"anyOf": [payload, ERROR]},
    }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"anyOf": [{"const": "[DONE]"}, json_data]} if done else json_data,
            "event": STRING,
        },
    }


# Every /v1 operation can answer these: a bad key (401), a refused body or header (400, 413, 415,
# 431), limits (429), the upstream (502, 504) and a backing service out of reach (503).
_ALWAYS = {
    400: "The request is not valid; `param` names the field.",
    401: "No key, or a key that is unknown, revoked, expired or its owner's deactivated.",
    413: "The body is larger than the gateway accepts.",
    405: "The method is not one this path serves.",
    415: "The body's content type is not one this operation reads.",
    429: "A rate limit, token limit, quota or budget; Retry-After says when to retry.",
    431: "The request's headers are larger than the gateway accepts.",
    502: "The upstream failed or answered something the gateway could not read.",
    503: "A backing service (cache, database) or every route is out of reach; Retry-After says when.",
    504: "The upstream did not answer in time.",
}
_EXTRA = {
    403: "Refused: the key may not do this, or the upstream refused the gateway's credentials.",
    404: "Not found: an unknown model, or an object this key cannot see.",
    409: "The object's state does not allow this.",
}


def refusals(*extra: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation: the common ones and `extra` (403, 404, 409)."""
    described = {**_ALWAYS, **{status: _EXTRA[status] for status in extra}}
    return {status: OpenApiResponse(ERROR, description=text) for status, text in sorted(described.items())}


def json_body(schema: Schema) -> dict[str, Schema]:
    return {"application/json": schema}


def list_object(item: Schema, *, paged: bool = False) -> Schema:
    """OpenAI's `{"object": "list", "data": [...]}`, with its cursor fields when `paged`."""
    properties: dict[str, Schema] = {"object": {"const": "list"}, "data": {"type": "array", "items": item}}
    if paged:
        properties |= {"first_id": nullable(STRING), "last_id": nullable(STRING), "has_more": BOOLEAN}
    return {"type": "object", "required": ["object", "data"], "properties": properties}


def answers(
    ok: Schema, description: str, *extra: int, status: int = 200, stream: Schema | None = None
) -> dict[Any, Any]:
    """The responses of an operation: `ok` as JSON under `status` (and, when the operation streams,
    the same status as server-sent events, each an `event_stream`), then its refusals."""
    described: dict[Any, Any] = {(status, "application/json"): OpenApiResponse(ok, description=description)}
    if stream is not None:
        described[(status, "text/event-stream")] = OpenApiResponse(
            stream, description="With `stream: true`: server-sent events."
        )
    return {**described, **refusals(*extra)}


def example(name: str, value: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


class ApiKeyScheme(OpenApiAuthenticationExtension):  # registered with drf-spectacular by subclassing
    target_class = "gateway.access.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> Schema:
        return {"type": "http", "scheme": "bearer", "description": "A gateway API key: `Authorization: Bearer …`."}


class SchemaView(SpectacularJSONAPIView):
    """GET /openapi.json: built once a process (the routes do not change while it runs)."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(build_document(self.generator_class), headers={"Cache-Control": "public, max-age=300"})


@lru_cache(maxsize=1)
def build_document(generator_class: type) -> dict[str, Any]:
    return generator_class().get_schema(request=None, public=True)
