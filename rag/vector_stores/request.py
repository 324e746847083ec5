"""The bodies of /v1/vector_stores and its files, batches and search, validated into typed requests.

Field rules follow https://platform.openai.com/docs/api-reference/vector-stores. A chunking
strategy is kept as OpenAI reports it on a file: `auto` becomes its documented equivalent, static
800 / 400 tokens. Tokens become characters at the gateway's estimate (4 bytes a token,
gateway/accounting/tokens.py) when the text is cut (rag/vector_stores/ingestion.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_text_tokens
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.http.request_fields import parse_integer, parse_number
from rag.attribute_filters import SqlFilter, compile_filter

MAX_FILES_PER_REQUEST = 500  # OpenAI's file_batches limit
MAX_QUERIES = 10
MAX_QUERY_CHARS = 4096
AUTO_CHUNKING = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
NO_THRESHOLD = -1.0  # cosine similarity's floor: every chunk is a candidate, best first
_MAX_PAIRS = 16  # metadata and attributes: OpenAI's limits
_MAX_KEY = 64
_MAX_VALUE = 512


def body_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


def _pairs(value: Any, param: str, *, typed: bool) -> dict[str, Any]:
    """`metadata` (strings) or `attributes` (strings, numbers, booleans): at most 16 pairs."""
    if value is None:
        return {}
    kinds = (str, int, float, bool) if typed else (str,)
    what = "strings, numbers or booleans" if typed else "strings"
    if not isinstance(value, dict) or len(value) > _MAX_PAIRS:
        raise invalid(f"'{param}' must be an object of at most {_MAX_PAIRS} pairs.", param=param)
    for key, item in value.items():
        # jsonb cannot hold the NUL character: refused here, not a database error.
        if not key or len(key) > _MAX_KEY or "\x00" in key:
            raise invalid(f"'{param}' keys must be 1 to {_MAX_KEY} characters, without NUL.", param=param)
        if not isinstance(item, kinds) or (isinstance(item, str) and (len(item) > _MAX_VALUE or "\x00" in item)):
            raise invalid(
                f"'{param}.{key}' must be one of {what} (strings of at most {_MAX_VALUE}, without NUL).", param=param
            )
    return dict(value)


def parse_metadata(data: dict[str, Any]) -> dict[str, Any] | None:
    return _pairs(data["metadata"], "metadata", typed=False) if data.get("metadata") is not None else None


def parse_chunking(value: Any, param: str = "chunking_strategy") -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "auto":
        return AUTO_CHUNKING
    if kind != "static":
        raise invalid(f"'{param}.type' must be auto or static.", param=f"{param}.type")
    static = value.get("static")
    if not isinstance(static, dict):
        raise invalid(f"'{param}.static' must be an object.", param=f"{param}.static")
    size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
    whole = all(isinstance(n, int) and not isinstance(n, bool) for n in (size, overlap))
    if not whole or not 100 <= size <= 4096 or not 0 <= overlap <= size // 2:
        raise invalid(
            f"'{param}.static' needs max_chunk_size_tokens (100 to 4096) and chunk_overlap_tokens "
            "(at most half of it).",
            param=f"{param}.static",
        )
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def parse_expires_after(data: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(given, value): null clears it on an update."""
    if "expires_after" not in data:
        return False, None
    value = data["expires_after"]
    if value is None:
        return True, None
    if not isinstance(value, dict) or value.get("anchor") != "last_active_at":
        raise invalid("'expires_after.anchor' must be last_active_at.", param="expires_after.anchor")
    days = parse_integer(value, "days", 1, 365)
    if days is None:
        raise invalid("'expires_after.days' must be a whole number from 1 to 365.", param="expires_after.days")
    return True, {"anchor": "last_active_at", "days": days}


def _name(data: dict[str, Any]) -> str | None:
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 256 or "\x00" in name):
        raise invalid("'name' must be a string of at most 256 characters, without NUL.", param="name")
    return name


@dataclass(frozen=True)
class FileSpec:
    file_id: str
    attributes: dict[str, Any]
    chunking: dict[str, Any]


@dataclass(frozen=True)
class AddFiles:
    """Files to embed into a store (a single add, a batch, or a new store's file_ids): a metered
    request on the store's embedding model. `sizes` are the files' byte counts, for the demand."""

    model: str
    files: tuple[FileSpec, ...]
    sizes: tuple[int, ...] = ()

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        # Overlapping chunks embed text twice over: the reservation grows with the overlap.
        tokens = 0
        for spec, size in zip(self.files, self.sizes, strict=False):
            static = spec.chunking["static"]
            stride = static["max_chunk_size_tokens"] - static["chunk_overlap_tokens"]
            tokens += -(-size // 4) * static["max_chunk_size_tokens"] // stride
        return Demand(prompt_tokens=tokens)


def _file_id(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or "\x00" in value:
        raise invalid(f"'{param}' must be a file id.", param=param)
    return value


def parse_file_specs(data: dict[str, Any], *, default_chunking: dict[str, Any] | None = None) -> tuple[FileSpec, ...]:
    """`file_ids` (with shared `attributes` and `chunking_strategy`) or `files` (each its own)."""
    shared_attributes = _pairs(data.get("attributes"), "attributes", typed=True)
    shared_chunking = parse_chunking(data.get("chunking_strategy")) or default_chunking or AUTO_CHUNKING
    specs: list[FileSpec] = []
    if data.get("file_ids") is not None:
        ids = data["file_ids"]
        if not isinstance(ids, list) or len(ids) > MAX_FILES_PER_REQUEST:
            raise invalid(f"'file_ids' must be an array of at most {MAX_FILES_PER_REQUEST} ids.", param="file_ids")
        specs += [
            FileSpec(_file_id(i, f"file_ids[{n}]"), shared_attributes, shared_chunking) for n, i in enumerate(ids)
        ]
    if data.get("files") is not None:
        files = data["files"]
        if not isinstance(files, list) or len(files) + len(specs) > MAX_FILES_PER_REQUEST:
            raise invalid(f"'files' must be an array of at most {MAX_FILES_PER_REQUEST} files.", param="files")
        for n, item in enumerate(files):
            if not isinstance(item, dict):
                raise invalid("Each of 'files' must be an object with a file_id.", param=f"files[{n}]")
            attributes = item.get("attributes")
            specs.append(
                FileSpec(
                    _file_id(item.get("file_id"), f"files[{n}].file_id"),
                    _pairs(attributes, f"files[{n}].attributes", typed=True)
                    if attributes is not None
                    else shared_attributes,
                    parse_chunking(item.get("chunking_strategy"), f"files[{n}].chunking_strategy") or shared_chunking,
                )
            )
    seen: set[str] = set()
    for spec in specs:
        if spec.file_id in seen:
            raise invalid(f"File '{spec.file_id}' is named twice.", param="file_ids")
        seen.add(spec.file_id)
    return tuple(specs)


@dataclass(frozen=True)
class StoreFields:
    name: str | None
    metadata: dict[str, Any] | None
    expires_after_given: bool
    expires_after: dict[str, Any] | None
    chunking: dict[str, Any] | None = None
    files: tuple[FileSpec, ...] = field(default=())


def parse_store_create(data: Any) -> StoreFields:
    data = body_object(data)
    given, expires = parse_expires_after(data)
    chunking = parse_chunking(data.get("chunking_strategy"))
    files = parse_file_specs({"file_ids": data.get("file_ids"), "chunking_strategy": data.get("chunking_strategy")})
    return StoreFields(_name(data), parse_metadata(data), given, expires, chunking, files)


def parse_store_update(data: Any) -> StoreFields:
    data = body_object(data)
    given, expires = parse_expires_after(data)
    return StoreFields(_name(data), parse_metadata(data), given, expires)


def parse_attributes_update(data: Any) -> dict[str, Any]:
    data = body_object(data)
    if "attributes" not in data:
        raise invalid("You must provide 'attributes'.", param="attributes")
    return _pairs(data["attributes"], "attributes", typed=True)


@dataclass(frozen=True)
class StoreSearch:
    model: str  # the store's embedding model
    queries: tuple[str, ...]
    max_num_results: int
    filters: SqlFilter | None
    score_threshold: float
    rewrite_query: bool

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(prompt_tokens=sum(estimate_text_tokens(query) for query in self.queries))


def parse_queries(value: Any, param: str = "query") -> tuple[str, ...]:
    queries = [value] if isinstance(value, str) else value
    if (
        not isinstance(queries, list)
        or not 1 <= len(queries) <= MAX_QUERIES
        or not all(isinstance(q, str) and q.strip() and len(q) <= MAX_QUERY_CHARS and "\x00" not in q for q in queries)
    ):
        raise invalid(
            f"'{param}' must be a non-empty string, or an array of at most {MAX_QUERIES} of them "
            f"({MAX_QUERY_CHARS} characters each).",
            param=param,
        )
    return tuple(queries)


def parse_search(data: Any, model: str) -> StoreSearch:
    data = body_object(data)
    ranking = data.get("ranking_options") or {}
    if not isinstance(ranking, dict):
        raise invalid("'ranking_options' must be an object.", param="ranking_options")
    ranker = ranking.get("ranker", "auto")
    if ranker not in ("auto", "default-2024-11-15", "none"):
        raise invalid(
            "'ranking_options.ranker' must be auto, default-2024-11-15 or none.", param="ranking_options.ranker"
        )
    threshold = parse_number(ranking, "score_threshold", 0, 1)
    rewrite = data.get("rewrite_query", False)
    if not isinstance(rewrite, bool):
        raise invalid("'rewrite_query' must be a boolean.", param="rewrite_query")
    filters = data.get("filters")
    return StoreSearch(
        model=model,
        queries=parse_queries(data.get("query")),
        max_num_results=parse_integer(data, "max_num_results", 1, 50) or 10,
        filters=compile_filter(filters) if filters is not None else None,
        score_threshold=threshold if threshold is not None else NO_THRESHOLD,
        rewrite_query=rewrite,
    )


@dataclass(frozen=True)
class CreateWithFiles:
    """A new store with `file_ids`: metered as the files' embedding."""

    fields: StoreFields
    files: AddFiles

    @property
    def model(self) -> str:
        return self.files.model

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return self.files.demand(targets)
