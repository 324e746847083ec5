"""The JSON Schemas of /v1/vector_stores (rag/vector_stores/openapi.py describes the operations):
the bodies as rag/vector_stores/request.py reads them, the answers as rag/vector_stores/render.py
writes them (https://platform.openai.com/docs/api-reference/vector-stores)."""

from __future__ import annotations

from gateway.http.openapi import BOOLEAN, NUMBER, STRING, TIMESTAMP, Schema, component, nullable
from rag.attribute_filters import MAX_COMPARISONS, MAX_KEY_LENGTH, MAX_VALUES
from rag.vector_stores.request import MAX_FILES_PER_REQUEST, MAX_QUERIES, MAX_QUERY_CHARS

FILE_STATUSES = ["in_progress", "completed", "failed", "cancelled"]

# --- requests ------------------------------------------------------------------------------------

_KEY = {"type": "string", "minLength": 1, "maxLength": 64}
METADATA = {
    "type": "object",
    "maxProperties": 16,
    "propertyNames": _KEY,
    "additionalProperties": {"type": "string", "maxLength": 512},
    "description": "Up to 16 string pairs (keys 1-64 characters, values at most 512).",
}
ATTRIBUTES = {
    "type": "object",
    "maxProperties": 16,
    "propertyNames": _KEY,
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": 512}, NUMBER, BOOLEAN]},
    "description": "Up to 16 pairs of strings, numbers or booleans, filterable in search.",
}
_STATIC = {
    "type": "object",
    "required": ["max_chunk_size_tokens", "chunk_overlap_tokens"],
    "properties": {
        "max_chunk_size_tokens": {"type": "integer", "minimum": 100, "maximum": 4096},
        "chunk_overlap_tokens": {"type": "integer", "minimum": 0, "description": "At most half the chunk size."},
    },
}
_STATIC_CHUNKING = {
    "type": "object",
    "required": ["type", "static"],
    "properties": {"type": {"const": "static"}, "static": _STATIC},
}
CHUNKING = component(
    "ChunkingStrategyRequest",
    {
        "oneOf": [
            {"type": "object", "required": ["type"], "properties": {"type": {"const": "auto"}}},
            _STATIC_CHUNKING,
        ],
        "description": "`auto` is static 800 tokens with 400 overlapping.",
    },
)
EXPIRES_AFTER = {
    "type": "object",
    "required": ["anchor", "days"],
    "properties": {"anchor": {"const": "last_active_at"}, "days": {"type": "integer", "minimum": 1, "maximum": 365}},
}
_FILE_ID = {"type": "string", "minLength": 1, "maxLength": 64, "description": "A file id (`file-…`) of the owner."}
_FILE_IDS = {"type": "array", "maxItems": MAX_FILES_PER_REQUEST, "uniqueItems": True, "items": _FILE_ID}

CREATE_STORE = component(
    "CreateVectorStoreRequest",
    {
        "type": "object",
        "properties": {
            "name": nullable({"type": "string", "maxLength": 256}),
            "metadata": nullable(METADATA),
            "expires_after": nullable(EXPIRES_AFTER),
            "chunking_strategy": nullable(CHUNKING),
            "file_ids": nullable({**_FILE_IDS, "description": "Files to embed into the new store (metered)."}),
        },
    },
)
MODIFY_STORE = component(
    "UpdateVectorStoreRequest",
    {
        "type": "object",
        "properties": {
            "name": nullable({"type": "string", "maxLength": 256}),
            "metadata": nullable(METADATA),
            "expires_after": nullable({**EXPIRES_AFTER, "description": "null: the store no longer expires."}),
        },
    },
)
ADD_FILE = component(
    "CreateVectorStoreFileRequest",
    {
        "type": "object",
        "required": ["file_id"],
        "properties": {
            "file_id": _FILE_ID,
            "attributes": nullable(ATTRIBUTES),
            "chunking_strategy": nullable(CHUNKING),
        },
    },
)
UPDATE_ATTRIBUTES = component(
    "UpdateVectorStoreFileAttributesRequest",
    {
        "type": "object",
        "required": ["attributes"],
        "properties": {"attributes": nullable({**ATTRIBUTES, "description": "The new attributes; null clears them."})},
    },
)
_BATCH_FILE = {
    "type": "object",
    "required": ["file_id"],
    "properties": {"file_id": _FILE_ID, "attributes": nullable(ATTRIBUTES), "chunking_strategy": nullable(CHUNKING)},
}
CREATE_BATCH = component(
    "CreateVectorStoreFileBatchRequest",
    {
        "type": "object",
        "description": f"`file_ids` (sharing `attributes` and `chunking_strategy`) or `files`, "
        f"at most {MAX_FILES_PER_REQUEST} files in all, none twice.",
        "anyOf": [
            {"required": ["file_ids"], "properties": {"file_ids": {"type": "array", "minItems": 1}}},
            {"required": ["files"], "properties": {"files": {"type": "array", "minItems": 1}}},
        ],
        "properties": {
            "file_ids": nullable(_FILE_IDS),
            "files": nullable({"type": "array", "maxItems": MAX_FILES_PER_REQUEST, "items": _BATCH_FILE}),
            "attributes": nullable(ATTRIBUTES),
            "chunking_strategy": nullable(CHUNKING),
        },
    },
)

_SCALAR = {"anyOf": [STRING, NUMBER, BOOLEAN]}
_FILTER_REF = {"$ref": "#/components/schemas/VectorStoreSearchFilter"}


def _comparison(kinds: list[str], value: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["type", "key", "value"],
        "additionalProperties": False,
        "properties": {"type": {"enum": kinds}, "key": {**_KEY, "maxLength": MAX_KEY_LENGTH}, "value": value},
    }


FILTER = component(
    "VectorStoreSearchFilter",
    {
        "description": f"A comparison of an attribute, or and/or of filters (nested at most 8 deep, "
        f"at most {MAX_COMPARISONS} comparisons). gt/gte/lt/lte compare numbers or strings.",
        "oneOf": [
            _comparison(["eq", "ne"], _SCALAR),
            _comparison(["gt", "gte", "lt", "lte"], {"anyOf": [STRING, NUMBER]}),
            _comparison(["in", "nin"], {"type": "array", "minItems": 1, "maxItems": MAX_VALUES, "items": _SCALAR}),
            {
                "type": "object",
                "required": ["type", "filters"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["and", "or"]},
                    "filters": {"type": "array", "minItems": 1, "items": _FILTER_REF},
                },
            },
        ],
    },
)
_QUERY_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}
SEARCH = component(
    "VectorStoreSearchRequest",
    {
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {
                "anyOf": [_QUERY_TEXT, {"type": "array", "minItems": 1, "maxItems": MAX_QUERIES, "items": _QUERY_TEXT}]
            },
            "max_num_results": nullable({"type": "integer", "minimum": 1, "maximum": 50}),
            "filters": nullable(FILTER),
            "ranking_options": nullable(
                {
                    "type": "object",
                    "properties": {
                        "ranker": {"enum": ["auto", "default-2024-11-15", "none"]},
                        "score_threshold": nullable({"type": "number", "minimum": 0, "maximum": 1}),
                    },
                }
            ),
            "rewrite_query": {"type": "boolean", "description": "Accepted; queries are searched as given."},
        },
    },
)

# --- answers -------------------------------------------------------------------------------------

_COUNTS = {
    "type": "object",
    "required": ["in_progress", "completed", "failed", "cancelled", "total"],
    "properties": {name: {"type": "integer", "minimum": 0} for name in [*FILE_STATUSES, "total"]},
}
VECTOR_STORE = component(
    "VectorStore",
    {
        "type": "object",
        "required": [
            "id",
            "object",
            "created_at",
            "name",
            "usage_bytes",
            "file_counts",
            "status",
            "last_active_at",
            "metadata",
        ],
        "properties": {
            "id": STRING,
            "object": {"const": "vector_store"},
            "created_at": TIMESTAMP,
            "name": nullable(STRING),
            "usage_bytes": {"type": "integer", "minimum": 0},
            "file_counts": _COUNTS,
            "status": {"enum": ["expired", "in_progress", "completed"]},
            "last_active_at": TIMESTAMP,
            "expires_after": nullable(EXPIRES_AFTER),
            "expires_at": nullable(TIMESTAMP),
            "metadata": {"type": "object", "additionalProperties": STRING},
        },
    },
)
VECTOR_STORE_FILE = component(
    "VectorStoreFile",
    {
        "type": "object",
        "required": ["id", "object", "created_at", "vector_store_id", "status", "last_error", "usage_bytes"],
        "properties": {
            "id": STRING,
            "object": {"const": "vector_store.file"},
            "created_at": TIMESTAMP,
            "vector_store_id": STRING,
            "status": {"enum": FILE_STATUSES},
            "last_error": nullable(
                {"type": "object", "required": ["code", "message"], "properties": {"code": STRING, "message": STRING}}
            ),
            "usage_bytes": {"type": "integer", "minimum": 0},
            "attributes": {"type": "object", "additionalProperties": _SCALAR},
            "chunking_strategy": _STATIC_CHUNKING,
        },
    },
)
FILE_BATCH = component(
    "VectorStoreFileBatch",
    {
        "type": "object",
        "required": ["id", "object", "created_at", "vector_store_id", "status", "file_counts"],
        "properties": {
            "id": STRING,
            "object": {"const": "vector_store.files_batch"},
            "created_at": TIMESTAMP,
            "vector_store_id": STRING,
            "status": {"enum": ["in_progress", "cancelling", "cancelled", "failed", "completed"]},
            "file_counts": _COUNTS,
        },
    },
)
SEARCH_RESULTS = component(
    "VectorStoreSearchResultsPage",
    {
        "type": "object",
        "required": ["object", "search_query", "data", "has_more", "next_page"],
        "properties": {
            "object": {"const": "vector_store.search_results.page"},
            "search_query": {"anyOf": [STRING, {"type": "array", "items": STRING}]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["file_id", "filename", "score", "attributes", "content"],
                    "properties": {
                        "file_id": STRING,
                        "filename": STRING,
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "attributes": {"type": "object", "additionalProperties": _SCALAR},
                        "content": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type", "text"],
                                "properties": {"type": {"const": "text"}, "text": STRING},
                            },
                        },
                    },
                },
            },
            "has_more": BOOLEAN,
            "next_page": nullable(STRING),
        },
    },
)
