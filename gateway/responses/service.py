"""Responses' work, no HTTP: the chat answer behind a response, and stored responses.

The answer is chat's (gateway/chat/service.py), so fallbacks, retries, tools, JSON mode and usage
behave as on /v1/chat/completions; a stream reads chat's typed deltas (chat.open_deltas) and
writes them as the Responses API's events (gateway/responses/stream.py). A stored response
belongs to its key's owner (gateway/response_models.py); one of another owner is answered as if it
did not exist.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from gateway.access.auth import KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.chat import service as chat
from gateway.errors import GatewayError, invalid
from gateway.models import StoredResponse
from gateway.providers.base import ChatDelta
from gateway.responses.hosted_tools import HostedRun, run_all
from gateway.responses.render import HOSTED, response_body
from gateway.responses.request import ResponsesRequest
from gateway.responses.stream import ResponseEvents
from gateway.streams import sse

MAX_CHAIN = 1000  # stored responses walked back through previous_response_id


def not_found(response_id: str, param: str | None = None) -> GatewayError:
    if param:  # as OpenAI names it for a conversation that cannot be continued
        message = f"Previous response with id '{response_id}' not found."
        return GatewayError(404, message, param=param, code="previous_response_not_found")
    return GatewayError(404, f"Response with id '{response_id}' not found.", code="not_found")


def _visible(principal: KeyPrincipal) -> QuerySet[StoredResponse]:
    return StoredResponse.objects.visible_to(principal.owner_id, principal.key_id)


def with_history(body: ResponsesRequest, principal: KeyPrincipal) -> ResponsesRequest:
    """The request with its stored conversation (previous_response_id, then its own previous, …)
    before its input: each response's input items and output items, oldest first. A turn deleted
    or expired ends the walk: the conversation starts after it."""
    if body.previous_response_id is None:
        return body
    chain = StoredResponse.objects.conversation(
        body.previous_response_id, principal.owner_id, principal.key_id, limit=MAX_CHAIN
    )
    if not chain:
        raise not_found(body.previous_response_id, param="previous_response_id")
    history = [item for row in chain for item in (*row.input_items, *row.output_items)]
    return body.with_history(history)


def _run_hosted(body: ResponsesRequest, entry: UsageEntry) -> tuple[ResponsesRequest, tuple[HostedRun, ...]]:
    """The hosted tools' runs (gateway/responses/hosted_tools.py), and the request whose chat reads them."""
    if not body.runs_hosted:
        return body, ()
    runs = run_all(body.hosted, body.query, include=body.include, entry=entry)
    return body.with_hosted(runs), runs


def complete(body: ResponsesRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
    """The chat completion answering the request (what the response cache keeps), with the hosted
    tools' items and annotations when the request has such tools."""
    body, runs = _run_hosted(body, entry)
    completion = chat.complete(body.chat, targets, entry)
    if runs:
        completion[HOSTED] = {
            "items": [run.item for run in runs],
            "annotations": [annotation for run in runs for annotation in run.annotations],
        }
    return completion


def respond(body: ResponsesRequest, completion: dict[str, Any], principal: KeyPrincipal) -> dict[str, Any]:
    """The response object for a chat completion; kept (one INSERT) when the request says `store`."""
    response = response_body(body, completion, created_at=int(time.time()))
    _store(body, response, principal)
    return response


def _store(body: ResponsesRequest, response: dict[str, Any], principal: KeyPrincipal) -> None:
    if body.store:
        StoredResponse.objects.create(
            id=response["id"],
            owner_id=principal.owner_id,
            api_key_id=principal.key_id,
            model=body.model,
            input_items=list(body.input_items),
            body=response,
            previous_response_id=body.previous_response_id or "",
        )


def open_stream(
    body: ResponsesRequest,
    targets: tuple[RouteTarget, ...],
    entry: UsageEntry,
    started: float,
    principal: KeyPrincipal,
) -> Iterator[bytes]:
    """The upstream opened now (a refusal is still a real HTTP error), then its deltas as the
    response's events. The response is stored once it completed (or was cut short), not when the
    upstream failed or the client left; the usage record is written once, however it ends."""
    answered, runs = _run_hosted(body, entry)
    stream = chat.open_deltas(answered.chat, targets, entry)
    events = ResponseEvents(body)
    events.annotations = [annotation for run in runs for annotation in run.annotations]

    def frames() -> Iterator[bytes]:
        yield from events.start()
        for run in runs:
            yield from events.hosted(run.item)
        upstream_finish: str | None = None
        calls = 0
        for item in stream.read(entry, started):
            if not isinstance(item, ChatDelta):
                yield sse.PING
                continue
            upstream_finish = item.finish_reason or upstream_finish
            if item.reasoning:
                yield from events.reasoning(item.reasoning)
            if item.content:
                stream.tally.completion_chars += len(item.content)
                yield from events.text(item.content)
            for call in item.tool_calls:
                if stream.single_call and calls:
                    break
                stream.tally.completion_chars += len(call.arguments)
                calls += 1
                yield from events.function_call(call)
        finish = stream.finish(entry, upstream_finish, calls=calls, stopped=False)
        assert stream.tally.usage is not None  # finish() settles it
        response, closing = events.end(stream.tally.usage, incomplete=finish == "length")
        _store(body, response, principal)  # before the last event: a client may GET it at once
        yield from closing

    return stream.settled(frames(), entry, started, error_frame=events.failed)


def stored(response_id: str, principal: KeyPrincipal) -> dict[str, Any]:
    row = _visible(principal).filter(pk=response_id).only("body").first()
    if row is None:
        raise not_found(response_id)
    return row.body


def delete(response_id: str, principal: KeyPrincipal) -> None:
    deleted, _ = _visible(principal).filter(pk=response_id).delete()
    if not deleted:
        raise not_found(response_id)


@dataclass(frozen=True)
class ItemPage:
    items: list[dict[str, Any]]
    has_more: bool


def input_items(response_id: str, principal: KeyPrincipal, *, limit: int, order: str, after: str | None) -> ItemPage:
    row = _visible(principal).filter(pk=response_id).only("input_items").first()
    if row is None:
        raise not_found(response_id)
    items = list(row.input_items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise invalid(f"'after' names no input item of response '{response_id}'.", param="after")
        items = items[ids.index(after) + 1 :]
    return ItemPage(items=items[:limit], has_more=len(items) > limit)
