"""The `file_search` tool of /v1/responses, run by the gateway over the owner's vector stores.

Registered as a hosted tool (gateway/responses/hosted_tools.py, from rag/apps.py). The search is
the stores' own (rag/vector_stores/service.py search: the query embedded on each store's model,
the attribute filters in the chunk search's WHERE) on the last user message's text. The model
then reads the results as the output of a `file_search` call it made — numbered passages with
their file names — and answers from them; the answer's text carries one file_citation per file
among the results, best first. The query's embedding is not recorded apart: the request's one
usage record is the chat call's, as RAG chat does (rag/service.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import resolve_routes
from gateway.errors import GatewayError, invalid
from gateway.models import Task
from gateway.providers.base import ChatMessage, ToolCall
from gateway.responses.hosted_tools import HostedRun
from gateway.responses.input_items import new_item_id
from rag.attribute_filters import compile_filter
from rag.service import owner_of
from rag.vector_stores import service
from rag.vector_stores.request import NO_THRESHOLD, StoreSearch

MAX_STORES = 10
DEFAULT_RESULTS = 10
INCLUDE_RESULTS = "file_search_call.results"
NO_RESULTS = "The file search found nothing in the files."


class FileSearchTool:
    def parse(self, tool: dict[str, Any], param: str) -> dict[str, Any]:
        ids = tool.get("vector_store_ids")
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= MAX_STORES
            or not all(isinstance(i, str) and i for i in ids)
        ):
            raise invalid(
                f"'vector_store_ids' must name 1 to {MAX_STORES} vector stores.", param=f"{param}.vector_store_ids"
            )
        count = tool.get("max_num_results", DEFAULT_RESULTS)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
            raise invalid("'max_num_results' must be a whole number from 1 to 50.", param=f"{param}.max_num_results")
        filters = tool.get("filters")
        if filters is not None:
            compile_filter(filters, f"{param}.filters")  # checked now; compiled again when it runs
        ranking = tool.get("ranking_options") or {}
        threshold = ranking.get("score_threshold", 0.0) if isinstance(ranking, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise invalid(
                "'ranking_options.score_threshold' must be a number from 0 to 1.",
                param=f"{param}.ranking_options.score_threshold",
            )
        return {
            "type": "file_search",
            "vector_store_ids": list(ids),
            "filters": filters,
            "max_num_results": count,
            "ranking_options": {"ranker": ranking.get("ranker", "auto"), "score_threshold": threshold},
        }

    def run(self, tool: dict[str, Any], query: str, *, include: Sequence[str], entry: UsageEntry) -> HostedRun:
        principal = entry.principal
        if principal is None:
            raise GatewayError(401, "An API key is required.", code="missing_api_key")
        owner = owner_of(principal)
        threshold = tool["ranking_options"]["score_threshold"]
        filters = compile_filter(tool["filters"]) if tool["filters"] is not None else None
        results: list[service.Result] = []
        for store_id in tool["vector_store_ids"]:
            store = service.get_store(owner, store_id)
            targets = resolve_routes(store.embedding_model, Task.EMBEDDING, principal.allows(store.embedding_model))
            search = StoreSearch(
                model=store.embedding_model,
                queries=(query,),
                max_num_results=tool["max_num_results"],
                filters=filters,
                score_threshold=threshold or NO_THRESHOLD,
                rewrite_query=False,
            )
            # The chat call's record is the request's: the query's embedding runs on a scratch entry.
            scratch = UsageEntry(request_id=entry.request_id, endpoint=entry.endpoint, principal=principal)
            results += service.search(store, search, targets, scratch)
        results = sorted(results, key=lambda result: -result.score)[: tool["max_num_results"]]
        return _run(query, results, include_results=INCLUDE_RESULTS in include)


def _run(query: str, results: list[service.Result], *, include_results: bool) -> HostedRun:
    call = ToolCall(id=new_item_id("call"), name="file_search", arguments=json.dumps({"queries": [query]}))
    passages = "\n\n".join(
        f"[{number}] {result.filename} ({result.file_id}):\n{result.text}"
        for number, result in enumerate(results, start=1)
    )
    item = {
        "type": "file_search_call",
        "id": new_item_id("fs"),
        "status": "completed",
        "queries": [query],
        "results": [
            {
                "file_id": result.file_id,
                "filename": result.filename,
                "score": result.score,
                "text": result.text,
                "attributes": result.attributes,
            }
            for result in results
        ]
        if include_results
        else None,
    }
    cited: dict[str, str] = {}
    for result in results:
        cited.setdefault(result.file_id, result.filename)
    return HostedRun(
        item=item,
        messages=(
            ChatMessage(role="assistant", content="", tool_calls=(call,)),
            ChatMessage(role="tool", content=passages or NO_RESULTS, tool_call_id=call.id, name="file_search"),
        ),
        annotations=tuple(
            {"type": "file_citation", "file_id": file_id, "filename": filename, "index": 0}
            for file_id, filename in cited.items()
        ),
    )
