"""The Files API in the OpenAPI document (gateway/http/openapi.py): /v1/files, /v1/files/{file_id}
and its content, as rag/files/request.py reads them and rag/files/render.py answers
(https://platform.openai.com/docs/api-reference/files).

Every operation acts for the key's owner: the static ACCESS_TOKEN is a 403, another owner's file a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from gateway.http.openapi import (
    STRING,
    TIMESTAMP,
    Schema,
    answers,
    component,
    link,
    list_object,
    nullable,
    refusals,
)
from rag.files.request import MAX_LIST_LIMIT, PURPOSES

_PURPOSE = {"enum": list(PURPOSES)}

UPLOAD = component(
    "CreateFileRequest",
    {
        "type": "object",
        "required": ["file", "purpose"],
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "The file's bytes (not empty; at most GATEWAY_FILE_MAX_BYTES, else 413).",
            },
            "purpose": {
                **_PURPOSE,
                "description": "Stored as given; `assistants` and `user_data` files are for vector stores.",
            },
        },
    },
)

FILE = component(
    "OpenAIFile",
    {
        "type": "object",
        "required": ["id", "object", "bytes", "created_at", "filename", "purpose", "status"],
        "properties": {
            "id": STRING,
            "object": {"const": "file"},
            "bytes": {"type": "integer", "minimum": 0},
            "created_at": TIMESTAMP,
            "filename": STRING,
            "purpose": STRING,
            "status": {"enum": ["uploaded", "processed", "error"]},
            "expires_at": nullable(TIMESTAMP),
            "status_details": nullable(STRING),
        },
    },
)


def paged_list(item: Schema) -> Schema:
    """OpenAI's cursor list (rag/list_pages.py list_body): every key always present."""
    listed = list_object(item, paged=True)
    return {**listed, "required": ["object", "data", "first_id", "last_id", "has_more"]}


def deleted(kind: str) -> Schema:
    return {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": STRING, "object": {"const": kind}, "deleted": {"const": True}},
    }


def id_parameter(name: str, what: str) -> OpenApiParameter:
    """A path id, as config/urls.py matches it."""
    return OpenApiParameter(name, {"type": "string", "pattern": r"^[\w.-]+$"}, OpenApiParameter.PATH, description=what)


def cursor_parameters(max_limit: int, default_limit: int) -> list[OpenApiParameter]:
    """`limit`, `order`, `after` and `before` (rag/list_pages.py parse_list_query)."""
    query = OpenApiParameter.QUERY
    return [
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": max_limit},
            query,
            description=f"At most this many objects (default {default_limit}).",
        ),
        OpenApiParameter("order", {"enum": ["asc", "desc"]}, query, description="By creation time (default desc)."),
        OpenApiParameter("after", str, query, description="An id from an earlier page: the objects after it."),
        OpenApiParameter("before", str, query, description="An id from an earlier page: the objects before it."),
    ]


_FILE_ID = id_parameter("file_id", "The file's id (`file-…`).")

CREATE = extend_schema(
    operation_id="createFile",
    summary="Upload a file",
    request={"multipart/form-data": UPLOAD},
    responses=answers(FILE, "The stored file.", 403),
)
LIST = extend_schema(
    operation_id="listFiles",
    summary="List files",
    parameters=[
        OpenApiParameter("purpose", _PURPOSE, OpenApiParameter.QUERY, description="Only files with this purpose."),
        *cursor_parameters(MAX_LIST_LIMIT, MAX_LIST_LIMIT),
    ],
    responses=answers(paged_list(FILE), "A page of the owner's files.", 403),
)
RETRIEVE = extend_schema(
    operation_id="retrieveFile",
    summary="Retrieve a file",
    parameters=[_FILE_ID],
    responses=answers(FILE, "The file.", 403, 404),
)
DELETE = extend_schema(
    operation_id="deleteFile",
    summary="Delete a file (and its chunks in every vector store)",
    parameters=[_FILE_ID],
    responses=answers(deleted("file"), "The file is deleted.", 403, 404),
)
CONTENT = extend_schema(
    operation_id="downloadFile",
    summary="Retrieve a file's content",
    parameters=[_FILE_ID],
    responses={
        (200, "*/*"): OpenApiResponse(
            {"type": "string", "contentMediaType": "application/octet-stream"},
            description="The file's bytes as an attachment, with the media type it was uploaded with "
            "(application/octet-stream when none is known).",
        ),
        **refusals(403, 404),
    },
)

# The stateful test's chains (gateway/http/openapi.py link): an uploaded file, then its reads and delete.
for _follow in ("retrieveFile", "downloadFile", "deleteFile"):
    link("createFile", _follow, file_id="$response.body#/id")
