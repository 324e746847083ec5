"""One legacy text completion: every prompt answered n times in the upstream's prompt form.

Fallbacks and the finish-reason rule are chat's (gateway/chat/service.py). Choices are numbered
as OpenAI numbers them, prompt_index * n + i, and each is one upstream call, made in that order;
a stream sends the choices one after another, each ending in its own finish chunk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from gateway.accounting.entry import UsageEntry
from gateway.accounting.tokens import estimate_prompt_tokens, estimate_text_tokens, max_tokens_for
from gateway.catalog.routes import RouteTarget
from gateway.chat.service import finish_reason_for, with_fallbacks
from gateway.completions.render import TextChoice, TextChunkWriter, text_completion_body
from gateway.completions.request import CompletionRequest, prompt_messages
from gateway.providers.base import ChatDelta, ChatProvider, ChatRequest, ProviderError, Usage
from gateway.providers.registry import provider_for
from gateway.streams import sse
from gateway.streams.keepalive import KEEPALIVE, ClosingStream, close_upstream, with_keepalive
from gateway.streams.settled import settled_stream
from gateway.streams.stop_sequences import StopScanner, truncate_at_stop


@dataclass(frozen=True)
class _Call:
    """The upstream call behind one choice."""

    index: int  # the choice's index in the response
    prompt_index: int
    prompt: str
    request: ChatRequest
    prompt_estimate: int


def _calls(body: CompletionRequest, target: RouteTarget) -> list[_Call]:
    calls = []
    for prompt_index, prompt in enumerate(body.prompts):
        # Without `raw` the upstream wraps the prompt in the model's chat template as one user
        # turn, so it is estimated as one user message.
        estimate = estimate_prompt_tokens(prompt_messages(prompt))
        request = ChatRequest(
            model=target.upstream_model,
            messages=(),
            prompt=prompt,
            max_tokens=max_tokens_for(
                requested=body.max_tokens,
                prompt_estimate=estimate,
                context_window=target.context_window,
                max_output_tokens=target.max_output_tokens,
                param="prompt",
            ),
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            frequency_penalty=body.frequency_penalty,
            presence_penalty=body.presence_penalty,
            reasoning=target.reasoning,
        )
        calls.extend(_Call(prompt_index * body.n + i, prompt_index, prompt, request, estimate) for i in range(body.n))
    return calls


@dataclass
class _Tally:
    """Usage over all choices: each prompt counted once, every completion counted."""

    prompt_tokens: dict[int, int] = field(default_factory=dict)
    completion_tokens: int = 0

    def add(self, call: _Call, usage: Usage) -> None:
        self.prompt_tokens[call.prompt_index] = max(self.prompt_tokens.get(call.prompt_index, 0), usage.prompt_tokens)
        self.completion_tokens += usage.completion_tokens

    def total(self) -> Usage:
        return Usage(sum(self.prompt_tokens.values()), self.completion_tokens)


def complete(body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict:
    def call(target: RouteTarget) -> list[tuple[_Call, str, Usage, str | None, bool]]:
        provider = provider_for(target.provider.config())
        answered = []  # (call, text, usage, upstream finish, whether usage is the gateway's estimate)
        try:
            for planned in _calls(body, target):
                result = provider.chat(planned.request)
                usage = result.usage or Usage(planned.prompt_estimate, estimate_text_tokens(result.content))
                answered.append((planned, result.content, usage, result.finish_reason, result.usage is None))
        except ProviderError:
            spent = _Tally()  # several prompts or n > 1: the choices before the failure were paid for
            for planned, _, usage, _, _ in answered:
                spent.add(planned, usage)
            total = spent.total()
            estimated = any(item[4] for item in answered)
            entry.spent_by_failed_attempt(total.prompt_tokens, total.completion_tokens, estimated=estimated)
            raise
        return answered

    tally = _Tally()
    choices = []
    for planned, content, usage, upstream_finish, estimated in with_fallbacks(targets, entry, call):
        entry.usage_estimated |= estimated
        text, stopped = truncate_at_stop(content, body.stop)
        finish = "stop" if stopped else finish_reason_for(upstream_finish, usage, planned.request.max_tokens)
        choices.append(TextChoice(text=planned.prompt + text if body.echo else text, finish_reason=finish))
        tally.add(planned, usage)
    total = tally.total()
    entry.prompt_tokens, entry.completion_tokens = total.prompt_tokens, total.completion_tokens
    return text_completion_body(body.model, choices, total)


def open_stream(
    body: CompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
) -> Iterator[bytes]:
    """Open the first choice's upstream stream now, so a refusal is still a real HTTP error.

    Later choices are opened when their turn comes, on the same route; a failure then arrives as
    an `error` event. The returned iterator writes the usage record when it ends, however it ends.
    """

    def call(target: RouteTarget) -> tuple[ChatProvider, list[_Call], Iterator[ChatDelta]]:
        calls = _calls(body, target)
        provider = provider_for(target.provider.config())
        return provider, calls, provider.chat_stream(calls[0].request)

    provider, calls, first = with_fallbacks(targets, entry, call)
    # The first upstream is open from here: closing the response closes it, even if _frame never ran.
    return ClosingStream(_frame(body, provider, calls, first, entry, started), first)


class _OpenedWhenRead(Iterator[ChatDelta]):
    """A later choice's stream, opened at its first read: on with_keepalive's reader thread, so
    pings also cover the wait for its headers. close() may come from the consumer meanwhile; it
    closes the stream at once if it is open, or as soon as it is."""

    def __init__(self, provider: ChatProvider, request: ChatRequest) -> None:
        self._provider, self._request = provider, request
        self._stream: Iterator[ChatDelta] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def __next__(self) -> ChatDelta:
        if self._stream is None:
            if self._closed:
                raise StopIteration
            stream = self._provider.chat_stream(self._request)
            with self._lock:
                self._stream, closed = stream, self._closed
            if closed:
                close_upstream(stream)
                raise StopIteration
        return next(self._stream)

    def close(self) -> None:
        with self._lock:
            self._closed, stream = True, self._stream
        if stream is not None:
            close_upstream(stream)


@dataclass
class _ChoiceProgress:
    call: _Call
    usage: Usage | None = None
    completion_chars: int = 0

    def settled_usage(self) -> Usage:
        return self.usage or Usage(self.call.prompt_estimate, -(-self.completion_chars // 4))


def _streamed_usage(progress: list[_ChoiceProgress]) -> Usage:
    tally = _Tally()
    for choice in progress:
        tally.add(choice.call, choice.settled_usage())
    return tally.total()


def _frame(
    body: CompletionRequest,
    provider: ChatProvider,
    calls: list[_Call],
    first: Iterator[ChatDelta],
    entry: UsageEntry,
    started: float,
) -> Iterator[bytes]:
    progress: list[_ChoiceProgress] = []

    def account() -> None:
        usage = _streamed_usage(progress)
        entry.prompt_tokens, entry.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        entry.usage_estimated = any(choice.usage is None for choice in progress)

    frames = _choices(body, provider, calls, first, entry, started, progress)
    return settled_stream(frames, entry, started, account)


def _choices(
    body: CompletionRequest,
    provider: ChatProvider,
    calls: list[_Call],
    first: Iterator[ChatDelta],
    entry: UsageEntry,
    started: float,
    progress: list[_ChoiceProgress],
) -> Iterator[bytes]:
    writer = TextChunkWriter(model=body.model, include_usage=body.include_usage)
    for planned in calls:
        progress.append(_ChoiceProgress(planned))
        deltas = first if planned.index == 0 else _OpenedWhenRead(provider, planned.request)
        yield from _frame_choice(body, writer, progress[-1], deltas, entry, started)
    if body.include_usage:
        yield sse.event(writer.usage(_streamed_usage(progress)))
    yield sse.DONE


def _frame_choice(
    body: CompletionRequest,
    writer: TextChunkWriter,
    progress: _ChoiceProgress,
    deltas: Iterator[ChatDelta],
    entry: UsageEntry,
    started: float,
) -> Iterator[bytes]:
    planned = progress.call
    scanner = StopScanner(body.stop)
    upstream_finish: str | None = None
    if body.echo:
        yield sse.event(writer.text(planned.index, planned.prompt))
    items = with_keepalive(deltas, settings.GATEWAY_SSE_KEEPALIVE_SECONDS)
    try:
        for item in items:
            if item is KEEPALIVE:
                yield sse.PING
                continue
            if entry.ttft_ms is None and item.content:
                entry.ttft_ms = int((time.monotonic() - started) * 1000)
            progress.usage = item.usage or progress.usage
            upstream_finish = item.finish_reason or upstream_finish
            text = scanner.feed(item.content)
            progress.completion_chars += len(item.content)
            if text:
                yield sse.event(writer.text(planned.index, text))
            if scanner.stopped:
                break
    finally:
        items.close()  # a stop found early: the reader thread closes the upstream
    tail = scanner.finish()
    if tail:
        yield sse.event(writer.text(planned.index, tail))
    usage = progress.settled_usage()
    finish = "stop" if scanner.stopped else finish_reason_for(upstream_finish, usage, planned.request.max_tokens)
    yield sse.event(writer.text(planned.index, "", finish_reason=finish))
