"""Prompt-size estimates and the max_tokens rule (README: "Context windows and max_tokens").

The upstream tokenizers are not available to the gateway, so prompts are estimated: one token per
4 bytes of UTF-8 (an over-estimate for English, close for code and CJK), plus 4 per message for
role markup and 3 for the reply primer. Workers AI defaults max_tokens to 256
(the `max_tokens` default on each model page, https://developers.cloudflare.com/workers-ai/models/),
which would silently cut most answers short, so the gateway
always sends one:

- requested: min(requested, context_window - estimate)
- absent:    min(route.max_output_tokens or context_window, context_window - estimate)

An estimate at or above the context window is refused with 400 context_length_exceeded.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import GatewayError, invalid
from gateway.providers.base import ChatMessage

_PER_MESSAGE = 4
_PRIMER = 3


def estimate_text_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // 4)


def estimate_prompt_tokens(messages: Iterable[ChatMessage]) -> int:
    return _PRIMER + sum(estimate_text_tokens(message.content) + _PER_MESSAGE for message in messages)


def context_exceeded(context_window: int, prompt_estimate: int, param: str = "messages") -> GatewayError:
    """The 400 of a prompt no context window of the model holds (OpenAI's wording and code)."""
    return invalid(
        f"This model's maximum context length is {context_window} tokens; your {param} would take "
        f"about {prompt_estimate} tokens. Please shorten the {param}.",
        param=param,
        code="context_length_exceeded",
    )


def max_tokens_for(
    *,
    requested: int | None,
    prompt_estimate: int,
    context_window: int | None,
    max_output_tokens: int | None,
    param: str = "messages",  # what the client should shorten: "prompt" on /v1/completions
) -> int | None:
    if context_window is None:
        return requested if requested is not None else max_output_tokens
    available = context_window - prompt_estimate
    if available <= 0:
        raise context_exceeded(context_window, prompt_estimate, param)
    if requested is not None:
        return min(requested, available)
    return min(max_output_tokens or context_window, available)
