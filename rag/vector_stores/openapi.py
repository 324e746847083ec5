"""/v1/vector_stores in the OpenAPI document (gateway/http/openapi.py): stores, their files, file
batches and search, as rag/vector_stores/request.py reads them and rag/vector_stores/render.py
answers (https://platform.openai.com/docs/api-reference/vector-stores,
https://platform.openai.com/docs/api-reference/vector-stores-files,
https://platform.openai.com/docs/api-reference/vector-stores-file-batches).

Every operation acts for the key's owner (the static ACCESS_TOKEN is a 403); an unknown store, file
or batch is a 404. Adding files and searching are metered on the store's embedding model.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema

from gateway.http.openapi import answers, example, json_body, link
from rag.files.openapi import cursor_parameters, deleted, id_parameter, paged_list
from rag.vector_stores import openapi_schemas as schemas

_STORE_ID = id_parameter("vector_store_id", "The vector store's id (`vs_…`).")
_FILE_ID_PATH = id_parameter("file_id", "The file's id (`file-…`).")
_BATCH_ID = id_parameter("batch_id", "The batch's id (`vsfb_…`).")
_STATUS_FILTER = OpenApiParameter(
    "filter", {"enum": schemas.FILE_STATUSES}, OpenApiParameter.QUERY, description="Only files with this status."
)
_PAGING = cursor_parameters(100, 20)
_EXAMPLE_FILE = "file-abc123"

LIST_STORES = extend_schema(
    operation_id="listVectorStores",
    summary="List vector stores",
    parameters=_PAGING,
    responses=answers(paged_list(schemas.VECTOR_STORE), "A page of the owner's vector stores.", 403),
)
CREATE_STORE = extend_schema(
    operation_id="createVectorStore",
    summary="Create a vector store",
    request=json_body(schemas.CREATE_STORE),
    responses=answers(schemas.VECTOR_STORE, "The new store; its files (if any) are being embedded.", 403, 404),
    examples=[example("A named store", {"name": "Support FAQ", "metadata": {"team": "support"}})],
)
RETRIEVE_STORE = extend_schema(
    operation_id="getVectorStore",
    summary="Retrieve a vector store",
    parameters=[_STORE_ID],
    responses=answers(schemas.VECTOR_STORE, "The vector store.", 403, 404),
)
MODIFY_STORE = extend_schema(
    operation_id="modifyVectorStore",
    summary="Modify a vector store",
    parameters=[_STORE_ID],
    request=json_body(schemas.MODIFY_STORE),
    responses=answers(schemas.VECTOR_STORE, "The store as modified.", 403, 404),
    examples=[example("A new name", {"name": "Support FAQ (2026)"})],
)
DELETE_STORE = extend_schema(
    operation_id="deleteVectorStore",
    summary="Delete a vector store (its chunks; the files stay)",
    parameters=[_STORE_ID],
    responses=answers(deleted("vector_store.deleted"), "The store is deleted.", 403, 404),
)
SEARCH_STORE = extend_schema(
    operation_id="searchVectorStore",
    summary="Search a vector store",
    parameters=[_STORE_ID],
    request=json_body(schemas.SEARCH),
    responses=answers(schemas.SEARCH_RESULTS, "The best chunks, best first.", 403, 404),
    examples=[example("A question", {"query": "How do I reset my password?", "max_num_results": 5})],
)
LIST_FILES = extend_schema(
    operation_id="listVectorStoreFiles",
    summary="List a vector store's files",
    parameters=[_STORE_ID, _STATUS_FILTER, *_PAGING],
    responses=answers(paged_list(schemas.VECTOR_STORE_FILE), "A page of the store's files.", 403, 404),
)
ADD_FILE = extend_schema(
    operation_id="createVectorStoreFile",
    summary="Add a file to a vector store",
    parameters=[_STORE_ID],
    request=json_body(schemas.ADD_FILE),
    responses=answers(schemas.VECTOR_STORE_FILE, "The store's file, being embedded.", 403, 404),
    examples=[example("A file", {"file_id": _EXAMPLE_FILE, "attributes": {"lang": "en"}})],
)
RETRIEVE_FILE = extend_schema(
    operation_id="getVectorStoreFile",
    summary="Retrieve a vector store's file",
    parameters=[_STORE_ID, _FILE_ID_PATH],
    responses=answers(schemas.VECTOR_STORE_FILE, "The store's file.", 403, 404),
)
UPDATE_FILE = extend_schema(
    operation_id="updateVectorStoreFileAttributes",
    summary="Update a vector store file's attributes",
    parameters=[_STORE_ID, _FILE_ID_PATH],
    request=json_body(schemas.UPDATE_ATTRIBUTES),
    responses=answers(schemas.VECTOR_STORE_FILE, "The store's file with its new attributes.", 403, 404),
    examples=[example("New attributes", {"attributes": {"lang": "en", "year": 2026}})],
)
DELETE_FILE = extend_schema(
    operation_id="deleteVectorStoreFile",
    summary="Remove a file from a vector store (the file stays)",
    parameters=[_STORE_ID, _FILE_ID_PATH],
    responses=answers(deleted("vector_store.file.deleted"), "The file left the store.", 403, 404),
)
CREATE_BATCH = extend_schema(
    operation_id="createVectorStoreFileBatch",
    summary="Add files to a vector store in a batch",
    parameters=[_STORE_ID],
    request=json_body(schemas.CREATE_BATCH),
    responses=answers(schemas.FILE_BATCH, "The batch, its files being embedded.", 403, 404),
    examples=[example("Two files", {"file_ids": [_EXAMPLE_FILE, "file-def456"]})],
)
RETRIEVE_BATCH = extend_schema(
    operation_id="getVectorStoreFileBatch",
    summary="Retrieve a file batch",
    parameters=[_STORE_ID, _BATCH_ID],
    responses=answers(schemas.FILE_BATCH, "The batch.", 403, 404),
)
CANCEL_BATCH = extend_schema(
    operation_id="cancelVectorStoreFileBatch",
    summary="Cancel a file batch",
    parameters=[_STORE_ID, _BATCH_ID],
    request=None,
    responses=answers(schemas.FILE_BATCH, "The batch, its files not yet embedded cancelled.", 403, 404),
)
LIST_BATCH_FILES = extend_schema(
    operation_id="listFilesInVectorStoreBatch",
    summary="List a file batch's files",
    parameters=[_STORE_ID, _BATCH_ID, _STATUS_FILTER, *_PAGING],
    responses=answers(paged_list(schemas.VECTOR_STORE_FILE), "A page of the batch's files.", 403, 404),
)

# The stateful test's chains (gateway/http/openapi.py link): a store, then what works on it; a
# store's file or batch, then what works on that.
_STORE = "$response.body#/id"
for _follow in (
    "getVectorStore",
    "modifyVectorStore",
    "deleteVectorStore",
    "searchVectorStore",
    "listVectorStoreFiles",
    "createVectorStoreFile",
    "createVectorStoreFileBatch",
):
    link("createVectorStore", _follow, vector_store_id=_STORE)
for _follow in ("getVectorStoreFile", "updateVectorStoreFileAttributes", "deleteVectorStoreFile"):
    link(
        "createVectorStoreFile",
        _follow,
        vector_store_id="$response.body#/vector_store_id",
        file_id="$response.body#/id",
    )
for _follow in ("getVectorStoreFileBatch", "cancelVectorStoreFileBatch", "listFilesInVectorStoreBatch"):
    link(
        "createVectorStoreFileBatch",
        _follow,
        vector_store_id="$response.body#/vector_store_id",
        batch_id="$response.body#/id",
    )
