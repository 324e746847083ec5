"""One moderation request: inputs validated, one Llama Guard verdict per input, OpenAI's result shape.

Llama Guard 3 answers safe/unsafe with hazard codes S1–S14 (shared/reference/workers-ai-api.md,
"Moderation"); OpenAI clients expect 13 boolean categories with scores
(shared/reference/openai-contract.md, "POST /v1/moderations"). HAZARD_CATEGORIES is the bridge,
documented in the README ("Moderation").
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from gateway.chat_completion import with_fallbacks
from gateway.errors import invalid
from gateway.providers.base import ChatMessage, ChatProvider, ChatRequest, ProviderError, ResponseFormat, Usage
from gateway.providers.registry import provider_for
from gateway.routing import RouteTarget
from gateway.tokens import estimate_prompt_tokens, estimate_text_tokens
from gateway.usage import UsageEntry

DEFAULT_MODEL = "omni-moderation-latest"
MAX_INPUTS = 32  # one upstream call each, made one after another
# A verdict naming all 14 codes is about 70 tokens of JSON; the cap only guards against rambling.
VERDICT_MAX_TOKENS = 128

OPENAI_CATEGORIES = (
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# Llama Guard 3 hazard → OpenAI categories. A subcategory always comes with its parent (OpenAI's
# subcategories narrow their parent). Hazards with no OpenAI counterpart (S6, S7, S13) map to
# nothing but still flag the input. Llama Guard never says "threatening", "graphic", "intent" or
# "instructions", so those keys are never set.
HAZARD_CATEGORIES: dict[str, tuple[str, ...]] = {
    "S1": ("violence", "illicit", "illicit/violent"),  # violent crimes
    "S2": ("illicit",),  # non-violent crimes
    "S3": ("sexual", "illicit"),  # sex-related crimes
    "S4": ("sexual", "sexual/minors"),  # child sexual exploitation
    "S5": ("harassment",),  # defamation
    "S6": (),  # specialized advice
    "S7": (),  # privacy
    "S8": ("illicit",),  # intellectual property
    "S9": ("violence", "illicit", "illicit/violent"),  # indiscriminate weapons
    "S10": ("hate",),  # hate
    "S11": ("self-harm",),  # suicide & self-harm
    "S12": ("sexual",),  # sexual content
    "S13": (),  # elections
    "S14": ("illicit",),  # code interpreter abuse
}

_INPUT_SHAPE = "'input' must be a string, an array of strings, or an array of content parts."
_HAZARD_CODE = re.compile(r"(?<![a-z])s(\d{1,2})(?!\d)", re.IGNORECASE)


@dataclass(frozen=True)
class ModerationRequest:
    model: str
    inputs: tuple[str, ...]  # one result each; an array of content parts is one input


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    hazards: tuple[str, ...] = ()  # "S1" … as the model named them

    def categories(self) -> frozenset[str]:
        return frozenset(category for hazard in self.hazards for category in HAZARD_CATEGORIES.get(hazard, ()))


# --- the request ---------------------------------------------------------------------------------


def parse_moderation_request(data: Any) -> ModerationRequest:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    model = data.get("model")
    if model is None:
        model = DEFAULT_MODEL
    elif not isinstance(model, str) or not model:
        raise invalid("'model' must be a non-empty string.", param="model")
    return ModerationRequest(model=model, inputs=_inputs(data.get("input")))


def _inputs(raw: Any) -> tuple[str, ...]:
    if raw is None:
        raise invalid("You must provide 'input'.", param="input")
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not raw:
        raise invalid(_INPUT_SHAPE, param="input")
    if all(isinstance(item, str) for item in raw):
        if len(raw) > MAX_INPUTS:
            raise invalid(f"'input' may hold at most {MAX_INPUTS} strings on this gateway; got {len(raw)}.", "input")
        return tuple(raw)
    if all(isinstance(item, dict) for item in raw):
        return (_text_of_parts(raw),)
    raise invalid(_INPUT_SHAPE + " Strings and content parts cannot be mixed.", param="input")


def _text_of_parts(parts: list[dict[str, Any]]) -> str:
    texts = []
    for index, part in enumerate(parts):
        param = f"input[{index}]"
        kind = part.get("type")
        if kind == "image_url":
            raise invalid(
                "Image inputs are not moderated by this gateway: its moderation model reads text only.",
                param=f"{param}.type",
                code="image_input_not_supported",
            )
        if kind != "text":
            raise invalid(f"Content parts must be of type 'text'; got {kind!r}.", param=f"{param}.type")
        if not isinstance(part.get("text"), str):
            raise invalid("A text content part needs a string 'text'.", param=f"{param}.text")
        texts.append(part["text"])
    return "\n".join(texts)


# --- the verdict ---------------------------------------------------------------------------------


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


def result_of(verdict: Verdict) -> dict[str, Any]:
    """One OpenAI result. Llama Guard gives no probabilities: a flagged category scores 1.0."""
    flagged = verdict.categories()
    return {
        "flagged": verdict.flagged,
        "categories": {name: name in flagged for name in OPENAI_CATEGORIES},
        "category_scores": {name: 1.0 if name in flagged else 0.0 for name in OPENAI_CATEGORIES},
        "category_applied_input_types": {name: ["text"] if name in flagged else [] for name in OPENAI_CATEGORIES},
    }


# --- the upstream calls --------------------------------------------------------------------------


def _prompt(text: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage(role="user", content=text),)


def _check_fits(inputs: tuple[str, ...], target: RouteTarget) -> None:
    if target.context_window is None:
        return
    for index, text in enumerate(inputs):
        estimate = estimate_prompt_tokens(_prompt(text))
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
    messages = _prompt(text)
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


def moderate(body: ModerationRequest, targets: tuple[RouteTarget, ...], entry: UsageEntry) -> dict[str, Any]:
    """Every input judged on one route (the next route redoes them all if this one is down)."""

    def call(target: RouteTarget) -> list[tuple[Verdict, Usage, bool]]:
        _check_fits(body.inputs, target)
        provider = provider_for(target.provider.config())
        return [_judge(provider, target, text) for text in body.inputs]

    judged = with_fallbacks(targets, entry, call)
    entry.usage_estimated = any(estimated for _, _, estimated in judged)
    entry.prompt_tokens = sum(usage.prompt_tokens for _, usage, _ in judged)
    entry.completion_tokens = sum(usage.completion_tokens for _, usage, _ in judged)
    return {
        "id": f"modr-{secrets.token_hex(12)}",
        "model": body.model,
        "results": [result_of(verdict) for verdict, _, _ in judged],
    }
