"""One moderation: the upstream's own moderation endpoint where the route's provider has one for
its model, else one Llama Guard verdict per input, read from either answer shape it gives."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.accounting.entry import UsageEntry
from gateway.accounting.tokens import estimate_prompt_tokens, estimate_text_tokens
from gateway.catalog.fallbacks import with_fallbacks
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.moderations.render import Verdict
from gateway.moderations.request import VERDICT_MAX_TOKENS, ModerationRequest, verdict_prompt
from gateway.providers import moderation
from gateway.providers.base import ChatProvider, ChatRequest, ProviderError, ResponseFormat, Usage
from gateway.providers.registry import provider_for

_HAZARD_CODE = re.compile(r"(?<![a-z])s(\d{1,2})(?!\d)", re.IGNORECASE)


def parse_verdict(text: str) -> Verdict:
    """A verdict from either shape Llama Guard answers in (reference, Moderation).

    JSON mode gives `{"safe": bool, "categories": ["S1", …]}` (the adapter hands it on as JSON
    text); otherwise, or from older deployments, the string "safe" or "unsafe\\nS1,S9".
    """
    stripped = text.strip()
    try:
        parsed: Any = json.loads(stripped)
    except ValueError:
        parsed = stripped
    if isinstance(parsed, dict):
        verdict = _verdict_of_object(parsed)
    elif isinstance(parsed, str):
        verdict = _verdict_of_text(parsed)
    else:
        verdict = None
    if verdict is None:
        raise ProviderError("upstream", f"Upstream error: the moderation model's verdict is unreadable: {text[:80]!r}")
    return verdict


def _hazards(text: str) -> tuple[str, ...]:
    codes = [f"S{int(number)}" for number in _HAZARD_CODE.findall(text)]
    return tuple(dict.fromkeys(codes))


def _verdict_of_text(text: str) -> Verdict | None:
    head, _, rest = text.strip().partition("\n")
    words = head.replace(":", " ").replace(",", " ").split()
    if not words:
        return None
    label = words[0].lower()
    if label == "safe":
        return Verdict(flagged=False)
    if label == "unsafe":
        return Verdict(flagged=True, hazards=_hazards(" ".join(words[1:]) + "\n" + rest))
    return None


def _verdict_of_object(raw: dict[str, Any]) -> Verdict | None:
    categories = raw.get("categories")
    if isinstance(categories, list):
        hazards = _hazards(",".join(str(item) for item in categories))
    else:
        hazards = _hazards(categories) if isinstance(categories, str) else ()
    safe = raw.get("safe")
    if isinstance(safe, str) and safe.strip().lower() in {"true", "safe", "false", "unsafe"}:
        safe = safe.strip().lower() in {"true", "safe"}
    if safe is None and "safe" not in raw:
        safe = not hazards
    if not isinstance(safe, bool):
        return None
    return Verdict(flagged=False) if safe else Verdict(flagged=True, hazards=hazards)


# --- the upstream calls --------------------------------------------------------------------------


def _check_fits(inputs: tuple[str, ...], target: RouteTarget) -> None:
    if target.context_window is None:
        return
    for index, text in enumerate(inputs):
        estimate = estimate_prompt_tokens(verdict_prompt(text))
        if estimate + VERDICT_MAX_TOKENS > target.context_window:
            raise invalid(
                f"This model's maximum context length is {target.context_window} tokens; input {index} comes to "
                f"about {estimate} tokens. Please shorten it.",
                param="input",
                code="context_length_exceeded",
            )


def _judge(provider: ChatProvider, target: RouteTarget, text: str) -> tuple[Verdict, Usage, bool]:
    """The verdict, its usage, and whether that usage is the gateway's estimate."""
    if not text.strip():
        return Verdict(flagged=False), Usage(0, 0), False  # nothing to judge, nothing to pay for
    messages = verdict_prompt(text)
    result = provider.chat(
        ChatRequest(
            model=target.upstream_model,
            messages=messages,
            max_tokens=VERDICT_MAX_TOKENS,
            temperature=0.0,
            response_format=ResponseFormat("json_object"),
        )
    )
    usage = result.usage or Usage(estimate_prompt_tokens(messages), estimate_text_tokens(result.content))
    return parse_verdict(result.content), usage, result.usage is None


def _moderate_natively(
    provider: moderation.ModerationProvider, target: RouteTarget, inputs: tuple[str, ...]
) -> tuple[list[moderation.ModerationResult], Usage, bool]:
    """The upstream's results, blank inputs left out as on the Llama Guard path; its usage, else an
    estimate of the inputs' tokens (OpenAI's moderations report none)."""
    asked = [index for index, text in enumerate(inputs) if text.strip()]
    answered: dict[int, moderation.ModerationResult] = {}
    usage: Usage | None = Usage(0, 0)
    if asked:
        request = moderation.ModerationRequest(target.upstream_model, tuple(inputs[index] for index in asked))
        results, usage = provider.moderate(request)
        if len(results) != len(asked):
            raise ProviderError("upstream", "Upstream error: the moderation has not one result per input.")
        answered = dict(zip(asked, results, strict=True))
    not_flagged = Verdict(flagged=False).result()
    ordered = [answered.get(index, not_flagged) for index in range(len(inputs))]
    if usage is None:
        return ordered, Usage(sum(estimate_text_tokens(inputs[index]) for index in asked), 0), True
    return ordered, usage, False


def moderate(
    body: ModerationRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry
) -> list[moderation.ModerationResult]:
    """Every input judged on one route (the next route redoes them all if this one is down)."""

    def call(target: RouteTarget) -> tuple[list[moderation.ModerationResult], Usage, bool]:
        provider = provider_for(target.provider.config())
        if isinstance(provider, moderation.ModerationProvider) and provider.moderates(target.upstream_model):
            return _moderate_natively(provider, target, body.inputs)
        _check_fits(body.inputs, target)
        judged: list[tuple[Verdict, Usage, bool]] = []
        try:
            for text in body.inputs:
                judged.append(_judge(provider, target, text))
        finally:
            usage = Usage(sum(u.prompt_tokens for _, u, _ in judged), sum(u.completion_tokens for _, u, _ in judged))
            if len(judged) < len(body.inputs):  # failed part-way: the verdicts before were paid for
                estimated = any(guessed for _, _, guessed in judged)
                entry.spent_by_failed_attempt(usage.prompt_tokens, usage.completion_tokens, estimated=estimated)
        return [verdict.result() for verdict, _, _ in judged], usage, any(estimated for _, _, estimated in judged)

    results, usage, estimated = with_fallbacks(targets, entry, call)
    entry.usage_estimated = estimated
    entry.prompt_tokens = usage.prompt_tokens
    entry.completion_tokens = usage.completion_tokens
    return results
