"""The bodies of the RAG endpoints, validated into typed requests.

POST /v1/rag/documents keeps the original project's shape, `{text, metadata: {docId, …},
namespace}`, and also takes `document_id` at the top level. POST /v1/rag/search takes `query`,
`top_k`, `score_threshold`, `namespace`, `filter` and `mode`. POST /v1/rag/chat is a chat
completion request plus `rag_top_k`, `rag_score_threshold`, `namespace`, `filter` and
`embedding_model`. Every one names the embedding model it embeds with (`embedding_model`, default
GATEWAY_RAG_EMBEDDING_MODEL), which is what admission and the routes see for documents and search.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_text_tokens
from gateway.catalog.capabilities import Needs
from gateway.catalog.routes import RouteTarget
from gateway.chat.request import ChatCompletionRequest, parse_chat_request
from gateway.errors import invalid
from gateway.http.request_fields import check_model_name, parse_integer, parse_number
from rag.extract import ExtractionError, extract
from rag.models import DEFAULT_NAMESPACE, STORE_PREFIX

MAX_TEXT_CHARS = 5_000_000
MAX_TOP_K = 50
MODES = ("vector", "hybrid")
_RAG_CHAT_FIELDS = ("rag_top_k", "rag_score_threshold", "namespace", "filter", "embedding_model")


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


def _string(data: dict[str, Any], name: str, default: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        raise invalid(f"'{name}' must be a non-empty string of at most {limit} characters, without NUL.", param=name)
    return value


def _embedding_model(data: dict[str, Any]) -> str:
    return check_model_name(_string(data, "embedding_model", settings.GATEWAY_RAG_EMBEDDING_MODEL, 200))


def _filter(data: dict[str, Any]) -> dict[str, Any] | None:
    value = data.get("filter")
    if value is None or value == {}:
        return None
    if not isinstance(value, dict) or not all(isinstance(item, str | int | float | bool) for item in value.values()):
        raise invalid("'filter' must be an object of metadata keys and the values they must equal.", param="filter")
    if _has_nul(value):
        raise invalid("'filter' may not contain the NUL character.", param="filter")
    return value


def _has_nul(value: Any) -> bool:
    """Whether JSON holds a NUL, which Postgres' text and jsonb cannot store or compare."""
    return "\\u0000" in json.dumps(value)


def _threshold(data: dict[str, Any], name: str) -> float:
    value = parse_number(data, name, -1.0, 1.0)
    return 0.7 if value is None else value


def _title(data: dict[str, Any]) -> str:
    title = data.get("title") or ""
    if not isinstance(title, str) or "\x00" in title:
        raise invalid("'title' must be a string without NUL.", param="title")
    return title[:500]


def writable_namespace(namespace: str) -> str:
    """A namespace /v1/rag may write to: a vector store's is changed through /v1/vector_stores only,
    so a store's file counts and its chunks never disagree (it is searchable here all the same)."""
    if namespace.startswith(STORE_PREFIX):
        raise invalid(
            f"The namespace '{namespace}' is a vector store's: add or remove its files through /v1/vector_stores.",
            param="namespace",
            code="vector_store_namespace",
        )
    return namespace


@dataclass(frozen=True)
class DocumentRequest:
    model: str  # the embedding model
    text: str
    external_id: str
    namespace: str
    title: str
    metadata: dict[str, Any]
    chunk_size: int
    chunk_overlap: int
    from_file: bool = False  # an upload: a large one is embedded by a task (JSON text never is)

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        # Overlapping chunks embed some text twice: the estimate grows with the overlap.
        stride = self.chunk_size - self.chunk_overlap
        return Demand(prompt_tokens=estimate_text_tokens(self.text) * self.chunk_size // stride)

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def parse_upload(data: Any) -> DocumentRequest:
    """A multipart upload: `file` plus the JSON form's fields as form fields (`metadata` as JSON).

    Without a `document_id` the file's name is the id, so uploading a file again replaces it.
    """
    upload = data.get("file")
    if not isinstance(upload, UploadedFile):
        raise invalid("A multipart upload needs its document in a 'file' field.", param="file")
    if upload.size > settings.GATEWAY_RAG_MAX_UPLOAD_BYTES:
        raise invalid(
            f"'file' is {upload.size} bytes; uploads may have at most {settings.GATEWAY_RAG_MAX_UPLOAD_BYTES}.",
            param="file",
            code="file_too_large",
        )
    try:
        extracted = extract(upload.read(), filename=upload.name or "", content_type=upload.content_type or "")
    except ExtractionError as exc:
        raise invalid(f"'file' could not be read: {exc}", param="file", code="unreadable_file") from exc
    fields: dict[str, Any] = {name: data.get(name) for name in data if name != "file"}
    raw_metadata = fields.get("metadata")
    if isinstance(raw_metadata, str):
        try:
            fields["metadata"] = json.loads(raw_metadata)
        except ValueError as exc:
            raise invalid("'metadata' must be a JSON object.", param="metadata") from exc
    for name in ("chunk_size", "chunk_overlap"):
        # ASCII digits: str.isdigit() is also true of "²", which int() refuses.
        if isinstance(fields.get(name), str) and fields[name].strip().isascii() and fields[name].strip().isdigit():
            fields[name] = int(fields[name])
    fields["text"] = extracted.text
    fields.setdefault("document_id", upload.name or None)
    if not fields.get("title"):
        fields["title"] = extracted.title or upload.name or ""
    parsed = parse_document_request({name: value for name, value in fields.items() if value is not None})
    return replace(parsed, from_file=True)


def parse_document_request(data: Any) -> DocumentRequest:
    if hasattr(data, "getlist"):  # a multipart form (a QueryDict), not a JSON object
        return parse_upload(data)
    data = _object(data)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise invalid("You must provide 'text', the document's content.", param="text")
    if len(text) > MAX_TEXT_CHARS:
        raise invalid(f"'text' may hold at most {MAX_TEXT_CHARS} characters; got {len(text)}.", param="text")
    if "\x00" in text:
        raise invalid("'text' contains NUL characters, which cannot be stored.", param="text")
    metadata = data.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or _has_nul(metadata):
        raise invalid("'metadata' must be a JSON object without NUL characters.", param="metadata")
    given = data.get("document_id", metadata.get("docId"))
    if given is not None and (
        not isinstance(given, str | int) or isinstance(given, bool) or not str(given).strip() or "\x00" in str(given)
    ):
        raise invalid("'document_id' (or metadata.docId) must be a non-empty string.", param="document_id")
    size = parse_integer(data, "chunk_size", 100, 8000) or 1000
    overlap = parse_integer(data, "chunk_overlap", 0, 4000)
    overlap = 200 if overlap is None else overlap
    if overlap >= size:
        raise invalid(f"'chunk_overlap' must be smaller than 'chunk_size' ({size}).", param="chunk_overlap")
    source_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    # Without an id the text names itself: posting the same text again replaces, never duplicates.
    external_id = str(given) if given is not None else f"doc_{source_hash[:24]}"
    if len(external_id) > 200:
        raise invalid("'document_id' may have at most 200 characters.", param="document_id")
    return DocumentRequest(
        model=_embedding_model(data),
        text=text,
        external_id=external_id,
        namespace=writable_namespace(_string(data, "namespace", DEFAULT_NAMESPACE, 100)),
        title=_title(data),
        metadata=metadata,
        chunk_size=size,
        chunk_overlap=overlap,
    )


@dataclass(frozen=True)
class SearchRequest:
    model: str  # the embedding model
    query: str
    top_k: int = 5
    score_threshold: float = 0.7
    namespace: str | None = None
    filter: dict[str, Any] | None = None
    mode: str = "vector"

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(prompt_tokens=estimate_text_tokens(self.query))


def parse_search_request(data: Any) -> SearchRequest:
    data = _object(data)
    query = data.get("query")
    if not isinstance(query, str) or not query.strip() or "\x00" in query:
        raise invalid("You must provide 'query', the text to search for (without NUL characters).", param="query")
    mode = data.get("mode") or "vector"
    if mode not in MODES:
        raise invalid(f"'mode' must be 'vector' or 'hybrid'; got {mode!r}.", param="mode")
    return SearchRequest(
        model=_embedding_model(data),
        query=query,
        top_k=parse_integer(data, "top_k", 1, MAX_TOP_K) or 5,
        score_threshold=_threshold(data, "score_threshold"),
        namespace=_string(data, "namespace", "", 100) or None,
        filter=_filter(data),
        mode=mode,
    )


@dataclass(frozen=True)
class RagChatRequest:
    chat: ChatCompletionRequest
    search: SearchRequest

    @property
    def model(self) -> str:
        return self.chat.model

    @property
    def stream(self) -> bool:
        return self.chat.stream

    @property
    def deterministic(self) -> bool:
        return False  # the answer depends on the documents, which change under the same request

    def needs(self) -> Needs:
        return self.chat.needs()  # the retrieved context is not known yet: the question's own needs

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        chat = self.chat.demand(targets)
        # The retrieved context joins the prompt: at most top_k chunks of about 1000 characters.
        context = self.search.top_k * estimate_text_tokens("x" * 1000)
        return Demand(
            prompt_tokens=chat.prompt_tokens + context,
            completion_requested=chat.completion_requested,
            completion_bound=chat.completion_bound,
        )


def parse_rag_chat_request(data: Any) -> RagChatRequest:
    data = _object(data)
    chat = parse_chat_request({name: value for name, value in data.items() if name not in _RAG_CHAT_FIELDS})
    asked = next((message.content for message in reversed(chat.messages) if message.role == "user"), "")
    if not asked.strip():
        raise invalid("RAG chat needs a user message with text to search for.", param="messages")
    search = SearchRequest(
        model=_embedding_model(data),
        query=asked,
        top_k=parse_integer(data, "rag_top_k", 1, MAX_TOP_K) or 3,
        score_threshold=_threshold(data, "rag_score_threshold"),
        namespace=_string(data, "namespace", "", 100) or None,
        filter=_filter(data),
    )
    return RagChatRequest(chat=chat, search=search)
