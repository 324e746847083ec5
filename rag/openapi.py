"""/v1/rag in the OpenAPI document (gateway/http/openapi.py): documents, search and chat, as
rag/request.py reads them and rag/render.py answers (README "RAG"). These are the gateway's own
endpoints, not OpenAI's; /v1/rag/chat is a chat completion (gateway/chat/openapi.py) with retrieval.

Every operation acts for the key's owner (the static ACCESS_TOKEN is a 403); another owner's
document is a 404. Documents and search name their embedding model (`embedding_model`); an
unknown one is a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from gateway.chat import openapi as chat
from gateway.http.openapi import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    TIMESTAMP,
    answers,
    component,
    event_stream,
    example,
    json_body,
    link,
    nullable,
)
from rag.request import MAX_TEXT_CHARS, MAX_TOP_K, MODES
from rag.store import MAX_LIST_LIMIT

_EMBEDDING_MODEL = nullable(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "The embedding model (default GATEWAY_RAG_EMBEDDING_MODEL, text-embedding-ada-002).",
    }
)
_NAMESPACE = {"type": "string", "minLength": 1, "maxLength": 100}
_WRITABLE_NAMESPACE = nullable(
    {**_NAMESPACE, "description": "Default `default`; a vector store's (`vs_…`) is refused (400)."}
)
_SCALAR = {"anyOf": [STRING, NUMBER, BOOLEAN]}
_FILTER = nullable(
    {
        "type": "object",
        "additionalProperties": _SCALAR,
        "description": "Metadata keys and the values they must equal.",
    }
)
_SEARCHED_NAMESPACE = nullable({**_NAMESPACE, "description": "Only this namespace (default: all of the owner's)."})
_THRESHOLD = {"type": "number", "minimum": -1, "maximum": 1, "description": "Cosine similarity; default 0.7."}
_DOCUMENT_ID = {
    "anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, INTEGER],
    "description": "The document's id in its namespace; posting it again replaces the document. "
    "Default: metadata.docId, else `doc_` and the text's hash.",
}

DOCUMENT_REQUEST = component(
    "CreateRagDocumentRequest",
    {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "description": "Without NUL."},
            "document_id": nullable(_DOCUMENT_ID),
            "metadata": nullable({"type": "object", "description": "Stored with every chunk; `docId` names it."}),
            "namespace": _WRITABLE_NAMESPACE,
            "title": nullable({"type": "string", "description": "Cut at 500 characters."}),
            "chunk_size": nullable(
                {"type": "integer", "minimum": 100, "maximum": 8000, "description": "Default 1000."}
            ),
            "chunk_overlap": nullable(
                {"type": "integer", "minimum": 0, "maximum": 4000, "description": "Below chunk_size; default 200."}
            ),
            "embedding_model": _EMBEDDING_MODEL,
        },
    },
)
DOCUMENT_UPLOAD = component(
    "CreateRagDocumentUpload",
    {
        "type": "object",
        "required": ["file"],
        "description": "A text, Markdown, HTML or PDF file; a long one is embedded later (202).",
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "At most GATEWAY_RAG_MAX_UPLOAD_BYTES; its name is the default document id.",
            },
            "document_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": {"type": "string", "contentMediaType": "application/json", "description": "A JSON object."},
            "namespace": {**_NAMESPACE, "description": "Default `default`; not a vector store's (`vs_…`)."},
            "title": STRING,
            "chunk_size": {"type": "integer", "minimum": 100, "maximum": 8000},
            "chunk_overlap": {"type": "integer", "minimum": 0, "maximum": 4000},
            "embedding_model": {"type": "string", "minLength": 1, "maxLength": 200},
        },
    },
)
INGESTED = component(
    "RagDocumentIngested",
    {
        "type": "object",
        "required": ["success", "document_id", "namespace", "chunks_processed"],
        "properties": {
            "success": {"const": True},
            "document_id": STRING,
            "namespace": STRING,
            "chunks_processed": {"type": "integer", "minimum": 0, "description": "0 while `processing`."},
            "status": {"const": "processing", "description": "Only when the document is embedded later (202)."},
        },
    },
)
DOCUMENT = component(
    "RagDocument",
    {
        "type": "object",
        "required": [
            "object",
            "document_id",
            "namespace",
            "title",
            "metadata",
            "status",
            "error",
            "chunks",
            "embedding_model",
            "dimensions",
            "source_hash",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "object": {"const": "rag.document"},
            "document_id": STRING,
            "namespace": STRING,
            "title": STRING,
            "metadata": {"type": "object"},
            "status": {"enum": ["processing", "ready", "failed"]},
            "error": {"type": "string", "description": "Why a `failed` document failed; else empty."},
            "chunks": {"type": "integer", "minimum": 0},
            "embedding_model": {"type": "string", "description": "The upstream model its chunks were embedded by."},
            "dimensions": {"type": "integer", "minimum": 0},
            "source_hash": {"type": "string", "description": "SHA-256 (hex) of the text."},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
    },
)
DOCUMENT_PAGE = {
    "type": "object",
    "required": ["object", "data", "has_more", "next_cursor"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": DOCUMENT},
        "has_more": BOOLEAN,
        "next_cursor": nullable({"type": "string", "description": "`cursor` for the next page."}),
    },
}
DELETED = {
    "type": "object",
    "required": ["object", "document_id", "deleted"],
    "properties": {"object": {"const": "rag.document.deleted"}, "document_id": STRING, "deleted": {"const": True}},
}

SEARCH_REQUEST = component(
    "RagSearchRequest",
    {
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "Without NUL."},
            "top_k": nullable({"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "description": "Default 5."}),
            "score_threshold": nullable(_THRESHOLD),
            "namespace": _SEARCHED_NAMESPACE,
            "filter": _FILTER,
            "mode": nullable({"enum": list(MODES), "description": "`hybrid` adds full-text ranking; default vector."}),
            "embedding_model": _EMBEDDING_MODEL,
        },
    },
)
SOURCE = component(
    "RagSource",
    {
        "type": "object",
        "required": ["score", "metadata", "text", "document_id", "chunk_index", "namespace"],
        "properties": {
            "score": NUMBER,
            "metadata": {"type": "object"},
            "text": STRING,
            "document_id": STRING,
            "chunk_index": {"type": "integer", "minimum": 0},
            "namespace": STRING,
        },
    },
)
SEARCH_RESULT = component(
    "RagSearchResult",
    {
        "type": "object",
        "required": ["query", "context", "sources"],
        "properties": {
            "query": STRING,
            "context": {"type": "string", "description": "The chunks' text, best first."},
            "sources": {"type": "array", "items": SOURCE},
        },
    },
)

CHAT_REQUEST = component(
    "CreateRagChatRequest",
    {
        "description": "A chat completion request; the last user message is the search query.",
        "allOf": [
            chat.REQUEST,
            {
                "type": "object",
                "properties": {
                    "rag_top_k": nullable(
                        {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "description": "Default 3."}
                    ),
                    "rag_score_threshold": nullable(_THRESHOLD),
                    "namespace": _SEARCHED_NAMESPACE,
                    "filter": _FILTER,
                    "embedding_model": _EMBEDDING_MODEL,
                },
            },
        ],
    },
)
_SOURCES = {"type": "array", "items": SOURCE, "description": "The chunks given to the model as context."}
CHAT_ANSWER = component(
    "RagChatCompletion",
    {
        "allOf": [
            chat.CHAT_COMPLETION,
            {"type": "object", "required": ["rag_sources"], "properties": {"rag_sources": _SOURCES}},
        ]
    },
)
CHAT_CHUNK = component(
    "RagChatCompletionChunk",
    {
        "allOf": [chat.CHUNK, {"type": "object", "properties": {"rag_sources": _SOURCES}}],
        "description": "The first chunk carries `rag_sources`.",
    },
)


def _namespace_query(what: str) -> OpenApiParameter:
    return OpenApiParameter("namespace", _NAMESPACE, OpenApiParameter.QUERY, description=what)


_DOCUMENT_PATH = OpenApiParameter(
    "document_id", {"type": "string", "minLength": 1}, OpenApiParameter.PATH, description="The document's id."
)
_IN_NAMESPACE = _namespace_query("The document's namespace (default `default`).")


def _ingested(*extra: int) -> dict[object, object]:
    described = answers(INGESTED, "Chunked, embedded and stored.", *extra)
    queued = OpenApiResponse(INGESTED, description="A large upload, stored `processing`: a task embeds it.")
    return {**described, (202, "application/json"): queued}


CREATE_DOCUMENT = extend_schema(
    operation_id="createRagDocument",
    summary="Add or replace a document",
    request={"application/json": DOCUMENT_REQUEST, "multipart/form-data": DOCUMENT_UPLOAD},
    responses=_ingested(403, 404),
    examples=[
        example(
            "A short text",
            {"text": "Our office is open 9 to 5.", "document_id": "hours", "embedding_model": "text-embedding-3-small"},
        )
    ],
)
LIST_DOCUMENTS = extend_schema(
    operation_id="listRagDocuments",
    summary="List documents",
    parameters=[
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
            OpenApiParameter.QUERY,
            description="At most this many (default 20).",
        ),
        _namespace_query("Only this namespace (default: all)."),
        OpenApiParameter("cursor", str, OpenApiParameter.QUERY, description="`next_cursor` of the page before."),
    ],
    responses=answers(DOCUMENT_PAGE, "A page of the owner's documents, last updated first.", 403),
)
RETRIEVE_DOCUMENT = extend_schema(
    operation_id="retrieveRagDocument",
    summary="Retrieve a document",
    parameters=[_DOCUMENT_PATH, _IN_NAMESPACE],
    responses=answers(DOCUMENT, "The document.", 403, 404),
)
DELETE_DOCUMENT = extend_schema(
    operation_id="deleteRagDocument",
    summary="Delete a document and its chunks",
    parameters=[_DOCUMENT_PATH, _IN_NAMESPACE],
    responses=answers(DELETED, "The document is deleted.", 403, 404),
)
SEARCH = extend_schema(
    operation_id="searchRag",
    summary="Search the owner's documents",
    request=json_body(SEARCH_REQUEST),
    responses=answers(SEARCH_RESULT, "The best chunks, best first.", 403, 404),
    examples=[example("A question", {"query": "When is the office open?", "top_k": 3})],
)
CHAT = extend_schema(
    operation_id="createRagChatCompletion",
    summary="Answer a chat with the owner's documents as context",
    request=json_body(CHAT_REQUEST),
    responses=answers(CHAT_ANSWER, "A chat.completion with `rag_sources`.", 403, 404, stream=event_stream(CHAT_CHUNK)),
    examples=[
        example(
            "A question",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "When is the office open?"}]},
        )
    ],
)

# The stateful test's chains (gateway/http/openapi.py link): a stored document, then its read and delete.
for _follow in ("retrieveRagDocument", "deleteRagDocument"):
    link("createRagDocument", _follow, document_id="$response.body#/document_id")
