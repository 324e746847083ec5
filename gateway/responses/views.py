"""POST /v1/responses; GET and DELETE /v1/responses/{id}; GET /v1/responses/{id}/input_items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.http.generation_view import GenerationView
from gateway.models import Task
from gateway.responses import openapi, render, service
from gateway.responses.request import ResponsesRequest, parse_responses_request

MAX_LIST_LIMIT = 100


@extend_schema_view(post=openapi.CREATE)
class ResponsesView(GenerationView):
    endpoint = "responses"
    task = Task.CHAT

    def parse(self, data: Any) -> ResponsesRequest:
        # The stored conversation is part of the prompt: routing and demand must see it.
        return service.with_history(parse_responses_request(data), self.request.user)

    def cached_request(self, body: ResponsesRequest) -> Any:
        return body.cache_request

    def complete(self, body: ResponsesRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
        return service.complete(body, targets, entry)

    def present(self, body: ResponsesRequest, result: dict[str, Any]) -> dict[str, Any]:
        return service.respond(body, result, self.request.user)

    def open_stream(
        self, body: ResponsesRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> Iterator[bytes]:
        return service.open_stream(body, targets, entry, started, self.request.user)


@extend_schema_view(get=openapi.RETRIEVE, delete=openapi.DELETE)
class ResponseDetailView(APIView):
    def get(self, request: Request, response_id: str) -> Response:
        return Response(service.stored(response_id, request.user))

    def delete(self, request: Request, response_id: str) -> Response:
        service.delete(response_id, request.user)
        return Response({"id": response_id, "object": "response", "deleted": True})


@extend_schema_view(get=openapi.LIST_INPUT_ITEMS)
class ResponseInputItemsView(APIView):
    def get(self, request: Request, response_id: str) -> Response:
        limit = request.query_params.get("limit", "20")
        # isdigit() alone passes digits int() refuses ("²"): ASCII digits only.
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= MAX_LIST_LIMIT:
            raise invalid(f"'limit' must be a whole number from 1 to {MAX_LIST_LIMIT}.", param="limit")
        order = request.query_params.get("order", "desc")
        if order not in {"asc", "desc"}:
            raise invalid("'order' must be asc or desc.", param="order")
        page = service.input_items(
            response_id, request.user, limit=int(limit), order=order, after=request.query_params.get("after")
        )
        return Response(render.input_items_body(page.items, page.has_more))
