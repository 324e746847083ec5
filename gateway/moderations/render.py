"""Moderation results in OpenAI's shape: a native moderation upstream's as they came, Llama Guard
verdicts through HAZARD_CATEGORIES.

Llama Guard 3 answers safe/unsafe with hazard codes S1–S14 (Cloudflare's model page,
https://developers.cloudflare.com/workers-ai/models/llama-guard-3-8b/); OpenAI clients expect 13
boolean categories with scores (https://platform.openai.com/docs/api-reference/moderations/object).
HAZARD_CATEGORIES is the bridge, documented in the README ("Moderation").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gateway.providers.moderation import ModerationResult

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


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    hazards: tuple[str, ...] = ()  # "S1" … as the model named them

    def categories(self) -> frozenset[str]:
        return frozenset(category for hazard in self.hazards for category in HAZARD_CATEGORIES.get(hazard, ()))

    def result(self) -> ModerationResult:
        """Llama Guard gives no probabilities: a flagged category scores 1.0, judged on text."""
        flagged = self.categories()
        return ModerationResult(
            flagged=self.flagged,
            categories={name: name in flagged for name in OPENAI_CATEGORIES},
            category_scores={name: 1.0 if name in flagged else 0.0 for name in OPENAI_CATEGORIES},
            applied_input_types={name: ("text",) if name in flagged else () for name in OPENAI_CATEGORIES},
        )


def result_of(result: ModerationResult) -> dict[str, Any]:
    """One OpenAI result with exactly the 13 categories clients know: an upstream's other names are
    dropped, a name it left out is false and scores 0.0. Without applied input types from the
    upstream, a flagged category was judged on text (all this gateway sends)."""
    categories = {name: result.categories.get(name) is True for name in OPENAI_CATEGORIES}
    scores = {name: float(result.category_scores.get(name, 0.0)) for name in OPENAI_CATEGORIES}
    applied = result.applied_input_types
    if applied is None:
        applied = {name: ("text",) if categories[name] else () for name in OPENAI_CATEGORIES}
    return {
        "flagged": result.flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: list(applied.get(name, ())) for name in OPENAI_CATEGORIES},
    }


def moderation_body(model: str, results: list[ModerationResult]) -> dict[str, Any]:
    return {
        "id": f"modr-{secrets.token_hex(12)}",
        "model": model,
        "results": [result_of(result) for result in results],
    }
