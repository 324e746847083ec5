"""RAG's work, no HTTP: ingest a document, retrieve chunks for a query, answer a chat with them.

Embedding goes through the embeddings family's service (its batches, fallbacks and checks), the
answer through the chat family's: RAG adds retrieval and nothing else, so tools, JSON mode and
limits behave exactly as on /v1/chat/completions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from gateway import job_queue
from gateway.access.auth import KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget, resolve_routes
from gateway.chat import service as chat
from gateway.embeddings import service as embeddings
from gateway.embeddings.request import EmbeddingsRequest
from gateway.errors import GatewayError, invalid
from gateway.models import Task
from gateway.providers.base import ChatMessage
from gateway.streams.keepalive import ClosingStream
from rag import search as chunk_search
from rag import store
from rag.chunking import chunk_text
from rag.models import Document
from rag.render import source_of
from rag.request import DocumentRequest, RagChatRequest, SearchRequest
from rag.search import Hit
from rag.store import ChunkInput

CONTEXT_INTRO = (
    "Answer using the following context from the user's documents when it is relevant. "
    "If it does not contain the answer, say so rather than guess."
)


def owner_of(principal: KeyPrincipal) -> int:
    """Documents belong to the key's owner; the static ACCESS_TOKEN has none."""
    if principal.owner_id is None:
        raise GatewayError(
            403,
            "RAG documents belong to the owner of an API key; the static ACCESS_TOKEN has no owner. "
            "Use an API key issued to a user.",
            code="owner_required",
        )
    return principal.owner_id


def ingest(body: DocumentRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, owner_id: int) -> Document:
    """Chunk, embed and store the document, replacing any earlier one under its id at once."""
    pieces = chunk_text(body.text, body.chunk_size, body.chunk_overlap)
    vectors = embeddings.embed(EmbeddingsRequest(model=body.model, inputs=tuple(pieces)), targets, entry)
    try:
        return store.replace_document(
            owner_id=owner_id,
            namespace=body.namespace,
            external_id=body.external_id,
            title=body.title,
            metadata=body.metadata,
            source_hash=body.source_hash,
            embedding_model=entry.upstream_model,
            chunks=[ChunkInput(text=text, vector=vector) for text, vector in zip(pieces, vectors, strict=True)],
        )
    except ValueError as exc:  # e.g. a vector size the store has no index for
        raise invalid(f"The document cannot be stored: {exc}.") from exc


def ingest_later(body: DocumentRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, owner_id: int) -> Document:
    """Mark the document `processing`, keep its text, and queue the task that embeds it.

    The request's record carries what the task will embed: the same chunks, estimated the same way
    the embeddings service estimates them.
    """

    pieces = chunk_text(body.text, body.chunk_size, body.chunk_overlap)
    entry.prompt_tokens = EmbeddingsRequest(model=body.model, inputs=tuple(pieces)).prompt_tokens
    entry.usage_estimated = True
    entry.upstream_model, entry.provider = targets[0].upstream_model, targets[0].provider.name
    document = store.begin_document(
        owner_id=owner_id,
        namespace=body.namespace,
        external_id=body.external_id,
        title=body.title,
        metadata=body.metadata,
        source_hash=body.source_hash,
    )
    source = default_storage.save(f"rag/pending/{uuid.uuid4().hex}.txt", ContentFile(body.text.encode("utf-8")))
    fields = {name: value for name, value in asdict(body).items() if name != "text"}
    transaction.on_commit(lambda: _enqueue(document.pk, owner_id, source, fields))
    return document


def _enqueue(pk: int, owner_id: int, source: str, fields: dict[str, object]) -> None:
    """The document's task, once it is committed; a document that cannot be queued is failed at
    once, not left `processing`, and the client told to retry (gateway/job_queue.py)."""
    from rag.tasks import ingest_document  # the task module imports this one

    def fail(unqueued: list[int]) -> None:
        store.fail_document(pk, job_queue.UNQUEUED)
        default_storage.delete(source)

    if not job_queue.queue_or_fail([pk], lambda _: ingest_document.delay(pk, owner_id, source, fields), fail):
        raise job_queue.unavailable()


def retrieve(body: SearchRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, owner_id: int) -> list[Hit]:
    (vector,) = embeddings.embed(EmbeddingsRequest(model=body.model, inputs=(body.query,)), targets, entry)
    try:
        return chunk_search.search(
            owner_id=owner_id,
            query_vector=vector,
            query_text=body.query,
            dimensions=len(vector),
            top_k=body.top_k,
            score_threshold=body.score_threshold,
            namespace=body.namespace,
            metadata_filter=body.filter,
            mode=body.mode,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise invalid(f"The search cannot run: {exc}.") from exc


def _with_context(body: RagChatRequest, hits: list[Hit]) -> RagChatRequest:
    """The chat request with the retrieved context as a system message before the last user one."""
    if not hits:
        return body
    passages = "\n\n".join(f"[{number}] {hit.text}" for number, hit in enumerate(hits, start=1))
    context = ChatMessage(role="system", content=f"{CONTEXT_INTRO}\n\n{passages}")
    messages = list(body.chat.messages)
    last_user = max(index for index, message in enumerate(messages) if message.role == "user")
    messages.insert(last_user, context)
    return replace(body, chat=replace(body.chat, messages=tuple(messages)))


def _retrieve_for_chat(
    body: RagChatRequest, entry: UsageEntry, principal: KeyPrincipal
) -> tuple[RagChatRequest, list[Hit]]:
    owner_id = owner_of(principal)
    targets = resolve_routes(body.search.model, Task.EMBEDDING, principal.allows(body.search.model))
    # The record is the chat call's: its route, attempts and tokens. The query's embedding runs on
    # a scratch entry, so its few tokens stay uncounted and its attempts are not added to the chat's.
    scratch = UsageEntry(request_id=entry.request_id, endpoint=entry.endpoint, principal=entry.principal)
    try:
        hits = retrieve(body.search, targets, scratch, owner_id)
    except GatewayError:
        # No chat call was made: the record names the embedding calls whose failure is the answer.
        if scratch.attempts:
            entry.upstream_model, entry.provider = scratch.upstream_model, scratch.provider
            entry.route_id, entry.attempts = scratch.route_id, scratch.attempts
        raise
    return _with_context(body, hits), hits


def answer(
    body: RagChatRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, principal: KeyPrincipal
) -> tuple[dict, list[Hit]]:
    body, hits = _retrieve_for_chat(body, entry, principal)
    return chat.complete(body.chat, targets, entry), hits


def answer_stream(
    body: RagChatRequest,
    targets: tuple[RouteTarget, ...],
    entry: UsageEntry,
    started: float,
    principal: KeyPrincipal,
) -> Iterator[bytes]:
    """The chat stream, its first chunk (the assistant role) carrying `rag_sources`."""
    body, hits = _retrieve_for_chat(body, entry, principal)
    frames = chat.open_stream(body.chat, targets, entry, started)
    return ClosingStream(_sources_first(frames, hits), frames)


def _sources_first(frames: Iterator[bytes], hits: list[Hit]) -> Iterator[bytes]:
    first = next(frames, None)
    if first is not None:
        payload = json.loads(first.decode("utf-8").removeprefix("data: "))
        payload["rag_sources"] = [source_of(hit) for hit in hits]
        yield b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    yield from frames
