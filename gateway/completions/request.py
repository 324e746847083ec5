"""The body of POST /v1/completions (legacy), validated into a typed request.

Fields are those of https://platform.openai.com/docs/api-reference/completions/create; the
numeric and `stop` rules are chat's (gateway/chat/request.py). `user` and unknown fields are
ignored, as on chat. Workers AI's prompt form has no suffix, logprobs or tokenizer
(https://developers.cloudflare.com/workers-ai/models/, text generation), so the fields that need one
are refused
with a 400 rather than silently changing the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_prompt_tokens
from gateway.catalog.capabilities import Needs
from gateway.catalog.routes import RouteTarget, completion_bound
from gateway.errors import invalid
from gateway.http.request_fields import parse_integer, parse_model, parse_sampling, parse_streaming
from gateway.providers.base import ChatMessage

DEFAULT_MAX_TOKENS = 16  # OpenAI's default on this endpoint (its API reference, `max_tokens`)


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompts: tuple[str, ...]  # one or more; each is answered n times
    stream: bool = False
    include_usage: bool = False
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    echo: bool = False

    @property
    def deterministic(self) -> bool:
        """Worth caching (gateway/cache/responses.py): greedy sampling, or a fixed seed."""
        return self.temperature == 0 or self.seed is not None

    def needs(self) -> Needs:
        """Routes whose context window holds the longest prompt (gateway/catalog/capabilities.py)."""
        longest = max((estimate_prompt_tokens(prompt_messages(text)) for text in self.prompts), default=0)
        return Needs(prompt_tokens=longest, prompt_param="prompt")

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        prompts = [estimate_prompt_tokens(prompt_messages(text)) for text in self.prompts]
        calls = len(self.prompts) * self.n
        bound = max((completion_bound(targets, self.max_tokens, prompt) for prompt in prompts), default=0)
        return Demand(
            prompt_tokens=sum(prompts), completion_requested=calls * self.max_tokens, completion_bound=calls * bound
        )


def prompt_messages(text: str) -> tuple[ChatMessage, ...]:
    """A legacy prompt as the upstream is sent it: one user message (README "Legacy completions")."""
    return (ChatMessage(role="user", content=text),)


def _is_token_array(value: Any) -> bool:
    def ints(items: list[Any]) -> bool:
        return bool(items) and all(isinstance(i, int) and not isinstance(i, bool) for i in items)

    return isinstance(value, list) and (ints(value) or all(isinstance(v, list) and ints(v) for v in value))


def _prompts(data: dict[str, Any]) -> tuple[str, ...]:
    prompt = data.get("prompt")
    if prompt is None:
        raise invalid("You must provide a prompt.", param="prompt")
    if isinstance(prompt, list) and not prompt:
        raise invalid("'prompt' must not be an empty array.", param="prompt")
    if _is_token_array(prompt):
        raise invalid(
            "Token-array prompts are not supported: the gateway has no tokenizer for the upstream "
            "model. Send the prompt as a string or an array of strings.",
            param="prompt",
        )
    if isinstance(prompt, str):
        prompts = (prompt,)
    elif isinstance(prompt, list) and all(isinstance(item, str) for item in prompt):
        prompts = tuple(prompt)
    else:
        raise invalid("'prompt' must be a string or an array of strings.", param="prompt")
    if not all(prompts):
        raise invalid("A prompt must not be empty: Workers AI refuses empty prompts.", param="prompt")
    return prompts


def _refuse_unsupported(data: dict[str, Any], n: int) -> None:
    suffix = data.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise invalid("'suffix' must be a string.", param="suffix")
    if suffix:
        raise invalid("'suffix' (insertion) is not supported: Workers AI only continues a prompt.", param="suffix")
    if data.get("logprobs") is not None:
        raise invalid("logprobs are not available from this gateway's upstream.", param="logprobs")
    best_of = parse_integer(data, "best_of", 1, 20)
    if best_of is not None and best_of < n:
        raise invalid(f"'best_of' must be at least n ({n}); got {best_of}.", param="best_of")
    if best_of is not None and best_of > n:
        # Choosing the best of several candidates needs their log probabilities, which Workers AI
        # does not return; best_of equal to n is the same request as n alone.
        raise invalid("'best_of' greater than n is not supported: the upstream returns no logprobs.", param="best_of")


def parse_completion_request(data: Any) -> CompletionRequest:
    model = parse_model(data)
    prompts = _prompts(data)
    n = parse_integer(data, "n", 1, 128) or 1
    # Every choice is one upstream call, so GATEWAY_MAX_N bounds the calls of one request.
    if len(prompts) * n > settings.GATEWAY_MAX_N:
        raise invalid(
            f"This request asks for {len(prompts) * n} choices (prompts × n); this gateway serves at most "
            f"{settings.GATEWAY_MAX_N} per request.",
            param="n" if len(prompts) == 1 else "prompt",
        )
    _refuse_unsupported(data, n)

    stream, include_usage = parse_streaming(data)
    echo = data.get("echo") or False
    if not isinstance(echo, bool):
        raise invalid("'echo' must be a boolean.", param="echo")
    max_tokens = parse_integer(data, "max_tokens", 1)

    return CompletionRequest(
        model=model,
        prompts=prompts,
        stream=stream,
        include_usage=include_usage,
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        n=n,
        echo=echo,
        **parse_sampling(data),
    )
