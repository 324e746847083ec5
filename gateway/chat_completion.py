"""One chat completion: routes tried in priority order, the upstream called, the answer shaped.

Knows OpenAI's semantics (finish reasons, stop, n, stream framing) and nothing of upstream formats;
those stay in the provider adapters behind gateway/providers/registry.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from gateway import sse
from gateway.api.chat_render import Choice, ChunkWriter, completion_body
from gateway.api.chat_request import ChatCompletionRequest
from gateway.db import release_connections
from gateway.errors import from_provider_error
from gateway.providers.base import ChatDelta, ChatRequest, ChatResult, ProviderError, Usage
from gateway.providers.registry import provider_for
from gateway.routing import RouteTarget
from gateway.stop_sequences import StopScanner, truncate_at_stop
from gateway.streaming import KEEPALIVE, with_keepalive
from gateway.tokens import estimate_prompt_tokens, estimate_text_tokens, max_tokens_for
from gateway.usage import UsageEntry, settle

T = TypeVar("T")

# Worth trying the next route for: the request itself was fine, this upstream was not.
_FALLBACK_KINDS = {"unavailable", "rate_limited", "upstream"}


@dataclass(frozen=True)
class _Attempt:
    request: ChatRequest
    prompt_estimate: int


def _attempt(body: ChatCompletionRequest, target: RouteTarget) -> _Attempt:
    estimate = estimate_prompt_tokens(body.messages)
    return _Attempt(
        prompt_estimate=estimate,
        request=ChatRequest(
            model=target.upstream_model,
            messages=body.messages,
            max_tokens=max_tokens_for(
                requested=body.max_tokens,
                prompt_estimate=estimate,
                context_window=target.context_window,
                max_output_tokens=target.max_output_tokens,
            ),
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            frequency_penalty=body.frequency_penalty,
            presence_penalty=body.presence_penalty,
            reasoning=target.reasoning,
        ),
    )


def _finish_reason(upstream: str | None, usage: Usage | None, max_tokens: int | None) -> str:
    if upstream:
        return upstream
    if usage is not None and max_tokens is not None and usage.completion_tokens >= max_tokens:
        return "length"
    return "stop"


def _note_target(entry: UsageEntry, target: RouteTarget) -> None:
    entry.upstream_model = target.upstream_model
    entry.provider = target.provider.name


def _with_fallbacks(targets: tuple[RouteTarget, ...], entry: UsageEntry, call: Callable[[RouteTarget], T]) -> T:
    """Run call(target) on each target until one answers; the last error is raised."""
    release_connections()
    for position, target in enumerate(targets):
        _note_target(entry, target)
        try:
            return call(target)
        except ProviderError as exc:
            if exc.kind not in _FALLBACK_KINDS or position == len(targets) - 1:
                raise from_provider_error(exc) from exc
    raise AssertionError("targets is never empty")


def complete(body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict:
    """A non-streaming completion; n > 1 is served by n upstream calls."""

    def call(target: RouteTarget) -> tuple[_Attempt, list[ChatResult]]:
        attempt = _attempt(body, target)
        provider = provider_for(target.provider.config())
        return attempt, [provider.chat(attempt.request) for _ in range(body.n)]

    attempt, results = _with_fallbacks(targets, entry, call)
    choices = []
    prompt_tokens = completion_tokens = 0
    for result in results:
        content, stopped = truncate_at_stop(result.content, body.stop)
        usage = result.usage or Usage(attempt.prompt_estimate, estimate_text_tokens(result.content))
        finish = "stop" if stopped else _finish_reason(result.finish_reason, usage, attempt.request.max_tokens)
        choices.append(Choice(content=content, finish_reason=finish, reasoning=result.reasoning))
        prompt_tokens = max(prompt_tokens, usage.prompt_tokens)  # the same prompt, counted once
        completion_tokens += usage.completion_tokens
    total = Usage(prompt_tokens, completion_tokens)
    entry.prompt_tokens, entry.completion_tokens = total.prompt_tokens, total.completion_tokens
    return completion_body(body.model, choices, total)


def open_stream(
    body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
) -> Iterator[bytes]:
    """Open the upstream stream now, so a refusal is still a real HTTP error, then frame it.

    The adapter returns once the upstream's headers are in; waiting for the first event happens
    inside the stream, behind keep-alives, because a reasoning model may think for a long time.
    The returned iterator writes the usage record when it ends, however it ends.
    """

    def call(target: RouteTarget) -> tuple[_Attempt, Iterator[ChatDelta]]:
        attempt = _attempt(body, target)
        return attempt, provider_for(target.provider.config()).chat_stream(attempt.request)

    attempt, deltas = _with_fallbacks(targets, entry, call)
    return _frame(body, attempt, deltas, entry, started)


def _frame(
    body: ChatCompletionRequest,
    attempt: _Attempt,
    deltas: Iterator[ChatDelta],
    entry: UsageEntry,
    started: float,
) -> Iterator[bytes]:
    writer = ChunkWriter(model=body.model, include_usage=body.include_usage)
    scanner = StopScanner(body.stop)
    usage: Usage | None = None
    upstream_finish: str | None = None
    completion_chars = 0
    finished = False
    try:
        yield sse.event(writer.delta({"role": "assistant", "content": ""}))
        for item in with_keepalive(deltas, settings.GATEWAY_SSE_KEEPALIVE_SECONDS):
            if item is KEEPALIVE:
                yield sse.PING
                continue
            if entry.ttft_ms is None and (item.content or item.reasoning):
                entry.ttft_ms = int((time.monotonic() - started) * 1000)
            usage = item.usage or usage
            upstream_finish = item.finish_reason or upstream_finish
            if item.reasoning:
                yield sse.event(writer.delta({"reasoning_content": item.reasoning}))
            text = scanner.feed(item.content)
            completion_chars += len(item.content)
            if text:
                yield sse.event(writer.delta({"content": text}))
            if scanner.stopped:
                break
        tail = scanner.finish()
        if tail:
            yield sse.event(writer.delta({"content": tail}))
        if usage is None:
            usage = Usage(attempt.prompt_estimate, -(-completion_chars // 4))
        finish = "stop" if scanner.stopped else _finish_reason(upstream_finish, usage, attempt.request.max_tokens)
        yield sse.event(writer.delta({}, finish_reason=finish))
        if body.include_usage:
            yield sse.event(writer.usage(usage))
        yield sse.DONE
        finished = True
    except ProviderError as exc:
        # Headers are gone already: an `error` event makes the SDK raise APIError mid-stream.
        error = from_provider_error(exc)
        entry.status, entry.error_code = error.status, error.code or ""
        yield sse.event(error.body())
        finished = True
    finally:
        if usage is not None:
            entry.prompt_tokens, entry.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        else:
            entry.prompt_tokens = attempt.prompt_estimate
            entry.completion_tokens = -(-completion_chars // 4)
        entry.client_disconnected = not finished
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        settle(entry)
