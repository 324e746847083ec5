"""One chat completion: routes tried in priority order, the upstream called, the answer shaped.

Knows OpenAI's semantics (finish reasons, stop, n, stream framing) and nothing of upstream formats;
those stay in the provider adapters behind gateway/providers/registry.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.conf import settings

from gateway.accounting.entry import UsageEntry
from gateway.accounting.tokens import estimate_prompt_tokens, estimate_text_tokens, max_tokens_for
from gateway.catalog.fallbacks import with_fallbacks
from gateway.catalog.routes import RouteTarget
from gateway.chat.content_parts import inline_images
from gateway.chat.render import Choice, ChunkWriter, completion_body
from gateway.chat.request import ChatCompletionRequest
from gateway.chat.tool_plan import ToolPlan, apply_plan, plan_for
from gateway.errors import GatewayError
from gateway.providers.base import ChatDelta, ChatRequest, ChatResult, ProviderError, Usage
from gateway.providers.registry import provider_for
from gateway.streams import sse
from gateway.streams.keepalive import ClosingStream, Keepalive, with_keepalive
from gateway.streams.settled import ErrorFrame, error_event, settled_stream
from gateway.streams.stop_sequences import StopScanner, truncate_at_stop


@dataclass(frozen=True)
class _Attempt:
    request: ChatRequest
    prompt_estimate: int
    plan: ToolPlan


def _attempt(body: ChatCompletionRequest, target: RouteTarget) -> _Attempt:
    plan = plan_for(body)
    estimate = body.prompt_estimate if plan.messages is body.messages else estimate_prompt_tokens(plan.messages)
    return _Attempt(
        prompt_estimate=estimate,
        plan=plan,
        request=ChatRequest(
            model=target.upstream_model,
            messages=plan.messages,
            tools=plan.tools,
            response_format=plan.response_format,
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
            reasoning_effort=body.reasoning_effort,
        ),
    )


def finish_reason_for(upstream: str | None, usage: Usage | None, max_tokens: int | None) -> str:
    if upstream:
        return upstream
    if usage is not None and max_tokens is not None and usage.completion_tokens >= max_tokens:
        return "length"
    return "stop"


def with_images(body: ChatCompletionRequest) -> ChatCompletionRequest:
    """The request with its http(s) images fetched and inlined.

    Called once the request is routed (only to routes with vision when it has images: see
    ChatCompletionRequest.needs), allowed and admitted (gateway/http/metered_view.py), so a refused
    request never makes the gateway fetch, and once per request: `n` and fallbacks reuse what it
    fetched. A request already inlined fetches nothing again.
    """
    return replace(body, messages=inline_images(body.messages))


def _spent(results: list[ChatResult], attempt: _Attempt) -> Usage:
    """Usage of the answers one attempt got before it failed: the prompt once, every completion."""
    usages = [r.usage or Usage(attempt.prompt_estimate, estimate_text_tokens(r.content)) for r in results]
    prompt = max((usage.prompt_tokens for usage in usages), default=0)
    return Usage(prompt, sum(usage.completion_tokens for usage in usages))


def complete(body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict:
    """A non-streaming completion; n > 1 is served by n upstream calls."""
    body = with_images(body)

    def call(target: RouteTarget) -> tuple[_Attempt, list[ChatResult]]:
        attempt = _attempt(body, target)
        provider = provider_for(target.provider.config())
        answers: list[ChatResult] = []
        try:
            for _ in range(body.n):
                answers.append(provider.chat(attempt.request))
            return attempt, [apply_plan(answer, attempt.plan) for answer in answers]
        except (ProviderError, GatewayError):
            spent = _spent(answers, attempt)  # n > 1: the answers before the failure were paid for
            estimated = any(answer.usage is None for answer in answers)
            entry.spent_by_failed_attempt(spent.prompt_tokens, spent.completion_tokens, estimated=estimated)
            raise

    attempt, results = with_fallbacks(targets, entry, call)
    choices = []
    prompt_tokens = completion_tokens = 0
    for result in results:
        content, stopped = truncate_at_stop(result.content, body.stop)
        usage = result.usage or Usage(attempt.prompt_estimate, estimate_text_tokens(result.content))
        entry.usage_estimated |= result.usage is None
        if result.tool_calls:
            finish = "tool_calls"
        elif stopped:
            finish = "stop"
        else:
            finish = finish_reason_for(result.finish_reason, usage, attempt.request.max_tokens)
        choices.append(
            Choice(content=content, finish_reason=finish, reasoning=result.reasoning, tool_calls=result.tool_calls)
        )
        prompt_tokens = max(prompt_tokens, usage.prompt_tokens)  # the same prompt, counted once
        completion_tokens += usage.completion_tokens
    total = Usage(prompt_tokens, completion_tokens)
    entry.prompt_tokens, entry.completion_tokens = total.prompt_tokens, total.completion_tokens
    return completion_body(body.model, choices, total)


def open_stream(
    body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
) -> Iterator[bytes]:
    """Open the upstream stream now, so a refusal is still a real HTTP error, then frame it.

    The returned iterator writes the usage record when it ends, however it ends.
    """
    stream = open_deltas(body, targets, entry)
    return stream.settled(_chunks(body, stream, entry, started), entry, started)


def open_deltas(body: ChatCompletionRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> ChatStream:
    """The upstream chat stream, opened now (fallbacks included), as typed deltas: what chat's own
    SSE framing and other families' (the Responses API's events) both read.

    The adapter returns once the upstream's headers are in; waiting for the first event happens
    inside the stream, behind keep-alives, because a reasoning model may think for a long time.
    """
    body = with_images(body)

    def call(target: RouteTarget) -> tuple[_Attempt, Iterator[ChatDelta]]:
        attempt = _attempt(body, target)
        provider = provider_for(target.provider.config())
        if attempt.plan.streams_natively:
            return attempt, provider.chat_stream(attempt.request)
        # JSON mode does not stream upstream: fetch the answer whole, replay it as chunks.
        return attempt, iter(replay(apply_plan(provider.chat(attempt.request), attempt.plan)))

    attempt, deltas = with_fallbacks(targets, entry, call)
    return ChatStream(attempt, deltas, _Tally(attempt.prompt_estimate))


@dataclass
class _Tally:
    """What a stream has sent so far, for its usage record."""

    prompt_estimate: int
    usage: Usage | None = None
    completion_chars: int = 0

    def estimate(self) -> Usage:
        return Usage(self.prompt_estimate, -(-self.completion_chars // 4))

    def account(self, entry: UsageEntry) -> None:
        usage = self.usage
        if usage is None:  # no final usage event: the upstream's count never came
            usage, entry.usage_estimated = self.estimate(), True
        entry.prompt_tokens, entry.completion_tokens = usage.prompt_tokens, usage.completion_tokens


@dataclass
class ChatStream:
    """An open upstream stream: its deltas, and what they cost so far (`tally`)."""

    attempt: _Attempt
    deltas: Iterator[ChatDelta]
    tally: _Tally

    @property
    def single_call(self) -> bool:
        """Tool calls emulated by the plan answer one call only."""
        return self.attempt.plan.single_call

    def read(self, entry: UsageEntry, started: float) -> Iterator[ChatDelta | Keepalive]:
        """The deltas, KEEPALIVE whenever the upstream is silent for GATEWAY_SSE_KEEPALIVE_SECONDS;
        notes the time to the first token and the upstream's usage."""
        for item in with_keepalive(self.deltas, settings.GATEWAY_SSE_KEEPALIVE_SECONDS):
            if isinstance(item, ChatDelta):
                if entry.ttft_ms is None and (item.content or item.reasoning or item.tool_calls):
                    entry.ttft_ms = int((time.monotonic() - started) * 1000)
                self.tally.usage = item.usage or self.tally.usage
            yield item

    def finish(self, entry: UsageEntry, upstream_finish: str | None, *, calls: int, stopped: bool) -> str:
        """The finish reason once the deltas ended; the usage estimated if the upstream sent none."""
        if self.tally.usage is None:
            self.tally.usage = self.tally.estimate()
            entry.usage_estimated = True
        if calls:
            return "tool_calls"
        if stopped:
            return "stop"
        return finish_reason_for(upstream_finish, self.tally.usage, self.attempt.request.max_tokens)

    def settled(
        self, frames: Iterator[bytes], entry: UsageEntry, started: float, error_frame: ErrorFrame = error_event
    ) -> Iterator[bytes]:
        """`frames` as a response body: the usage record written once when they end, however they
        end, and the upstream closed when the response is, even if the frames never ran."""
        settled = settled_stream(frames, entry, started, lambda: self.tally.account(entry), error_frame)
        return ClosingStream(settled, self.deltas)


def _chunks(body: ChatCompletionRequest, stream: ChatStream, entry: UsageEntry, started: float) -> Iterator[bytes]:
    writer = ChunkWriter(model=body.model, include_usage=body.include_usage)
    scanner = StopScanner(body.stop)
    tally = stream.tally
    upstream_finish: str | None = None
    calls_sent = 0
    yield sse.event(writer.delta({"role": "assistant", "content": ""}))
    for item in stream.read(entry, started):
        if not isinstance(item, ChatDelta):
            yield sse.PING
            continue
        upstream_finish = item.finish_reason or upstream_finish
        if item.reasoning:
            yield sse.event(writer.delta({"reasoning_content": item.reasoning}))
        for call in item.tool_calls:
            if stream.single_call and calls_sent:
                break
            for delta in writer.tool_call_deltas(calls_sent, call):
                yield sse.event(delta)
            calls_sent += 1
            tally.completion_chars += len(call.arguments)
        text = scanner.feed(item.content)
        tally.completion_chars += len(item.content)
        if text:
            yield sse.event(writer.delta({"content": text}))
        if scanner.stopped:
            break
    tail = scanner.finish()
    if tail:
        yield sse.event(writer.delta({"content": tail}))
    finish = stream.finish(entry, upstream_finish, calls=calls_sent, stopped=scanner.stopped)
    yield sse.event(writer.delta({}, finish_reason=finish))
    if body.include_usage and tally.usage is not None:
        yield sse.event(writer.usage(tally.usage))
    yield sse.DONE


def replay(result: ChatResult) -> list[ChatDelta]:
    """A whole answer as the deltas of a stream: reasoning, content, tool calls, then usage."""
    deltas = [ChatDelta(reasoning=result.reasoning)] if result.reasoning else []
    if result.content:
        deltas.append(ChatDelta(content=result.content))
    if result.tool_calls:
        deltas.append(ChatDelta(tool_calls=result.tool_calls))
    deltas.append(ChatDelta(usage=result.usage, finish_reason=result.finish_reason))
    return deltas
