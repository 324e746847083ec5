"""The Responses API in the OpenAPI document: POST /v1/responses, GET and DELETE /v1/responses/{response_id},
GET /v1/responses/{response_id}/input_items.

The body as gateway/responses/request.py and input_items.py read it
(https://platform.openai.com/docs/api-reference/responses/create); the response object as render.py
builds it (https://platform.openai.com/docs/api-reference/responses/object) and the stream's named
events as stream.py writes them (https://platform.openai.com/docs/api-reference/responses-streaming).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema

from gateway.http.openapi import (
    BOOLEAN,
    INTEGER,
    MODEL,
    NUMBER,
    OBJECT,
    STRING,
    TIMESTAMP,
    Schema,
    answers,
    component,
    event_stream,
    example,
    json_body,
    link,
    list_object,
    nullable,
)

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_EFFORT = {"enum": ["none", "minimal", "low", "medium", "high"]}


def _object(kind: str, required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """An object whose `type` is `kind`."""
    return {"type": "object", "required": ["type", *required], "properties": {"type": {"const": kind}, **properties}}


def _answer(kind: str, **properties: Schema) -> Schema:
    """An answered object whose `type` is `kind`, every property always sent."""
    return _object(kind, tuple(properties), **properties)


# The request: input items and their content parts.
_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"enum": ["input_text", "output_text", "text"]}, "text": STRING},
}
_INPUT_PART = {
    "oneOf": [
        _TEXT_PART,
        _object("refusal", ("refusal",), refusal={**STRING, "description": "On assistant messages only."}),
        _object(
            "input_image",
            ("image_url",),
            image_url={"type": "string", "description": "An http(s) URL on a public host, or a base64 data: URL."},
            detail=nullable({"enum": ["auto", "low", "high"]}),
        ),
    ],
    "description": "input_image on user messages only.",
}
_ITEM_ID = {"type": "string", "description": "Kept when given, else made here."}
_INPUT_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "type": {"const": "message"},
        "id": _ITEM_ID,
        "role": {"enum": ["user", "system", "developer", "assistant"]},
        "content": {"anyOf": [STRING, {"type": "array", "items": _INPUT_PART}]},
    },
}
_INPUT_ITEM = {
    "oneOf": [
        _INPUT_MESSAGE,
        _object(
            "function_call", ("call_id", "name", "arguments"), id=_ITEM_ID, call_id=STRING, name=_NAME, arguments=STRING
        ),
        _object(
            "function_call_output",
            ("call_id", "output"),
            id=_ITEM_ID,
            call_id=STRING,
            output={"anyOf": [STRING, {"type": "array", "items": _TEXT_PART}]},
        ),
        {**_object("reasoning"), "description": "A previous output sent back: dropped."},
        {**_object("file_search_call"), "description": "A previous output sent back: dropped."},
    ]
}
_FUNCTION_TOOL = _object(
    "function",
    ("name",),
    name=_NAME,
    description=nullable(STRING),
    parameters=nullable({**OBJECT, "description": "A JSON Schema object."}),
    strict={"type": "boolean", "description": "true by default."},
)
_FILE_SEARCH_TOOL = _object(
    "file_search",
    ("vector_store_ids",),
    vector_store_ids={"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 10},
    max_num_results={"type": "integer", "minimum": 1, "maximum": 50},
    filters=nullable({**OBJECT, "description": "A comparison or compound attribute filter."}),
    ranking_options={
        "type": "object",
        "properties": {"ranker": STRING, "score_threshold": {"type": "number", "minimum": 0, "maximum": 1}},
    },
)
_TOOL = component(
    "ResponseTool",
    {
        "oneOf": [_FUNCTION_TOOL, _FILE_SEARCH_TOOL],
        "description": "A function, or file_search over the key owner's vector stores, which the gateway runs "
        "before the model answers (at most one). OpenAI's other built-in tools are refused.",
    },
)
_TOOL_CHOICE = {
    "anyOf": [
        {"enum": ["none", "auto", "required"]},
        _object("function", ("name",), name=STRING),
        _object("file_search"),
        {"type": "null"},
    ],
    "description": "A named function or file_search must be among `tools`; `required` needs a tool.",
}
_TEXT_FORMAT = {
    "oneOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": ["text", "json_object"]}}},
        _object(
            "json_schema",
            ("name", "schema"),
            name=_NAME,
            schema=OBJECT,
            strict=nullable(BOOLEAN),
            description=STRING,
        ),
    ]
}
_METADATA = {
    "type": "object",
    "maxProperties": 16,
    "propertyNames": {"maxLength": 64},
    "additionalProperties": {"type": "string", "maxLength": 512},
}

REQUEST = component(
    "CreateResponseRequest",
    {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": MODEL,
            "input": {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": _INPUT_ITEM}]},
            "instructions": nullable({**STRING, "description": "A system message before the input."}),
            "previous_response_id": nullable({**STRING, "description": "Continue a stored conversation."}),
            "tools": nullable({"type": "array", "items": _TOOL}),
            "tool_choice": _TOOL_CHOICE,
            "parallel_tool_calls": nullable(BOOLEAN),
            "text": nullable({"type": "object", "properties": {"format": nullable(_TEXT_FORMAT)}}),
            "reasoning": nullable({"type": "object", "properties": {"effort": nullable(_EFFORT), "summary": {}}}),
            "max_output_tokens": nullable({"type": "integer", "minimum": 16}),
            "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
            "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "truncation": nullable({"enum": ["auto", "disabled"]}),
            "metadata": nullable(_METADATA),
            "store": nullable({**BOOLEAN, "description": "Keep the response (true by default)."}),
            "stream": nullable({**BOOLEAN, "description": "Answer as server-sent events."}),
            "include": nullable(
                {"type": "array", "items": STRING, "description": "`file_search_call.results` is read."}
            ),
            "user": nullable({"type": "string", "description": "Echoed."}),
            "background": nullable({"const": False, "description": "Background responses are not supported."}),
        },
    },
)

# The answer: output items, the response object, the stream's events.
_ANNOTATION = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"const": "file_citation"}, "file_id": STRING, "filename": STRING, "index": INTEGER},
}
_OUTPUT_TEXT = _answer("output_text", text=STRING, annotations={"type": "array", "items": _ANNOTATION})
_STATUS = {"enum": ["in_progress", "completed", "incomplete"]}
_SUMMARY_TEXT = _answer("summary_text", text=STRING)
OUTPUT_ITEM = component(
    "ResponseOutputItem",
    {
        "oneOf": [
            _answer(
                "message",
                id=STRING,
                status=_STATUS,
                role={"const": "assistant"},
                content={"type": "array", "items": _OUTPUT_TEXT},
            ),
            _answer(
                "function_call",
                id=STRING,
                call_id=STRING,
                name=STRING,
                arguments={"type": "string", "description": "JSON text."},
                status=_STATUS,
            ),
            _answer("reasoning", id=STRING, summary={"type": "array", "items": _SUMMARY_TEXT}),
            _answer(
                "file_search_call",
                id=STRING,
                status=_STATUS,
                queries={"type": "array", "items": STRING},
                results=nullable({"type": "array", "items": OBJECT, "description": "With include."}),
            ),
        ]
    },
)
_RESPONSE_USAGE = {
    "type": "object",
    "required": ["input_tokens", "output_tokens", "total_tokens"],
    "properties": {
        "input_tokens": {"type": "integer", "minimum": 0},
        "input_tokens_details": OBJECT,
        "output_tokens": {"type": "integer", "minimum": 0},
        "output_tokens_details": OBJECT,
        "total_tokens": {"type": "integer", "minimum": 0},
    },
}
_RESPONSE_FIELDS = (
    "id object created_at status completed_at error incomplete_details instructions max_output_tokens model output "
    "parallel_tool_calls previous_response_id reasoning store temperature text tool_choice tools top_p truncation "
    "usage user metadata"
).split()  # every field is always sent, null or not (render.py response_object)
RESPONSE = component(
    "Response",
    {
        "type": "object",
        "required": _RESPONSE_FIELDS,
        "properties": {
            "id": STRING,
            "object": {"const": "response"},
            "created_at": TIMESTAMP,
            "status": {"enum": ["completed", "incomplete", "in_progress", "failed"]},
            "completed_at": nullable(TIMESTAMP),
            "error": nullable(
                {"type": "object", "required": ["code", "message"], "properties": {"code": STRING, "message": STRING}}
            ),
            "incomplete_details": nullable(
                {"type": "object", "properties": {"reason": {"const": "max_output_tokens"}}}
            ),
            "instructions": nullable(STRING),
            "max_output_tokens": nullable(INTEGER),
            "model": STRING,
            "output": {"type": "array", "items": OUTPUT_ITEM},
            "parallel_tool_calls": BOOLEAN,
            "previous_response_id": nullable(STRING),
            "reasoning": {"type": "object", "properties": {"effort": nullable(_EFFORT), "summary": {}}},
            "store": BOOLEAN,
            "temperature": nullable(NUMBER),
            "text": {"type": "object", "properties": {"format": OBJECT}},
            "tool_choice": {"anyOf": [STRING, OBJECT]},
            "tools": {"type": "array", "items": OBJECT},
            "top_p": nullable(NUMBER),
            "truncation": {"enum": ["auto", "disabled"]},
            "usage": nullable(_RESPONSE_USAGE),
            "user": nullable(STRING),
            "metadata": {"type": "object", "additionalProperties": STRING},
        },
    },
)


def _event(kinds: str, **fields: Schema) -> Schema:
    """Events of these space-separated `kinds`: their type, number and `fields`, all always sent."""
    number = {"type": "integer", "minimum": 0}
    properties = {"type": {"enum": kinds.split()}, "sequence_number": number, **fields}
    return {"type": "object", "required": list(properties), "properties": properties}


_INDEX = {"type": "integer", "minimum": 0}
_IN_ITEM = {"item_id": STRING, "output_index": _INDEX}
_IN_PART = {**_IN_ITEM, "content_index": _INDEX}
_IN_SUMMARY = {**_IN_ITEM, "summary_index": _INDEX}
_NO_LOGPROBS = {"type": "array", "maxItems": 0}
STREAM_EVENT = component(
    "ResponseStreamEvent",
    {
        "description": "An event of a streamed response; its `event:` line is its `type`.",
        "oneOf": [
            _event(
                "response.created response.in_progress response.completed response.incomplete response.failed",
                response=RESPONSE,
            ),
            _event("response.output_item.added response.output_item.done", output_index=_INDEX, item=OUTPUT_ITEM),
            _event("response.content_part.added response.content_part.done", **_IN_PART, part=_OUTPUT_TEXT),
            _event("response.output_text.delta", **_IN_PART, delta=STRING, logprobs=_NO_LOGPROBS),
            _event("response.output_text.done", **_IN_PART, text=STRING, logprobs=_NO_LOGPROBS),
            _event(
                "response.output_text.annotation.added", **_IN_PART, annotation_index=_INDEX, annotation=_ANNOTATION
            ),
            _event(
                "response.reasoning_summary_part.added response.reasoning_summary_part.done",
                **_IN_SUMMARY,
                part=_SUMMARY_TEXT,
            ),
            _event("response.reasoning_summary_text.delta", **_IN_SUMMARY, delta=STRING),
            _event("response.reasoning_summary_text.done", **_IN_SUMMARY, text=STRING),
            _event("response.function_call_arguments.delta", **_IN_ITEM, delta=STRING),
            _event("response.function_call_arguments.done", **_IN_ITEM, arguments=STRING),
            _event(
                "response.file_search_call.in_progress response.file_search_call.searching "
                "response.file_search_call.completed",
                **_IN_ITEM,
            ),
        ],
    },
)

_RESPONSE_ID = OpenApiParameter("response_id", location=OpenApiParameter.PATH, description="A response's id (resp_…).")
CREATE = extend_schema(
    operation_id="createResponse",
    summary="Create a model response",
    request=json_body(REQUEST),
    responses=answers(
        RESPONSE,
        "The response; kept for GET and previous_response_id unless `store` is false.",
        403,
        404,
        stream=event_stream(STREAM_EVENT, done=False),
    ),
    examples=[example("A question", {"model": "gpt-4o-mini", "input": "Hello!"})],
)
RETRIEVE = extend_schema(
    operation_id="getResponse",
    summary="Retrieve a stored response",
    parameters=[_RESPONSE_ID],
    responses=answers(RESPONSE, "The response as it was answered.", 404),
)
DELETE = extend_schema(
    operation_id="deleteResponse",
    summary="Delete a stored response",
    parameters=[_RESPONSE_ID],
    responses=answers(
        {
            "type": "object",
            "required": ["id", "object", "deleted"],
            "properties": {"id": STRING, "object": {"const": "response"}, "deleted": {"const": True}},
        },
        "Deleted.",
        404,
    ),
)

_DONE = {"const": "completed"}
_INPUT_ITEM_ANSWER: dict[str, Any] = {
    "description": "An input item as kept: with its id, content parts normalised.",
    "oneOf": [
        _answer(
            "message",
            id=STRING,
            role={"enum": ["user", "system", "developer", "assistant"]},
            status=_DONE,
            content={
                "type": "array",
                "items": {
                    "oneOf": [
                        _answer("input_text", text=STRING),
                        _OUTPUT_TEXT,
                        _answer("input_image", image_url=STRING, detail={"enum": ["auto", "low", "high"]}),
                    ]
                },
            },
        ),
        _answer("function_call", id=STRING, call_id=STRING, name=STRING, arguments=STRING, status=_DONE),
        _answer("function_call_output", id=STRING, call_id=STRING, output=STRING, status=_DONE),
    ],
}
LIST_INPUT_ITEMS = extend_schema(
    operation_id="listInputItems",
    summary="List a stored response's input items",
    parameters=[
        _RESPONSE_ID,
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="20 by default."),
        OpenApiParameter("order", enum=["asc", "desc"], description="desc (newest first) by default."),
        OpenApiParameter("after", description="An item id: the page starts after it."),
    ],
    responses=answers(
        list_object(component("ResponseInputItem", _INPUT_ITEM_ANSWER), paged=True), "A page of the items.", 404
    ),
)

# The stateful test's chains (gateway/http/openapi.py link): a stored response, then its reads and delete.
for _follow in ("getResponse", "listInputItems", "deleteResponse"):
    link("createResponse", _follow, response_id="$response.body#/id")
