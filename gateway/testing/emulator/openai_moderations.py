"""POST moderations on the generic base: each input is judged by the emulator's Llama Guard rule
(prompt_rules.hazards_in: the harmful-phrase table and the [[unsafe…]] triggers), and its hazards
are mapped to OpenAI's 13 categories (https://platform.openai.com/docs/api-reference/moderations).

Any model name is accepted (default "omni-moderation-latest") and echoed. A list of strings gives
one result per string; a list of content parts (text and image_url) is one input, one result,
judged on its text. A flagged category scores FLAGGED_SCORE, its subcategories only when the
hazard names them; every other score is CLEAR_SCORE.
"""

from __future__ import annotations

from typing import Any

from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, new_id
from .openai_errors import bad_input
from .prompt_rules import hazards_in

MODERATION_FIELDS = frozenset({"model", "input"})
DEFAULT_MODEL = "omni-moderation-latest"
FLAGGED_SCORE = 0.98
CLEAR_SCORE = 0.0001
CATEGORIES = (
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
# The categories OpenAI's omni model also judges in images; the rest are text only.
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)
# Llama Guard 3's hazards (https://developers.cloudflare.com/workers-ai/models/llama-guard-3-8b/)
# as OpenAI categories; S6, S7 and S13 have no counterpart but still flag the input.
HAZARD_CATEGORIES: dict[str, tuple[str, ...]] = {
    "S1": ("violence", "illicit", "illicit/violent"),
    "S2": ("illicit",),
    "S3": ("sexual", "illicit"),
    "S4": ("sexual", "sexual/minors"),
    "S5": ("harassment",),
    "S6": (),
    "S7": (),
    "S8": ("illicit",),
    "S9": ("violence", "illicit", "illicit/violent"),
    "S10": ("hate",),
    "S11": ("self-harm",),
    "S12": ("sexual",),
    "S13": (),
    "S14": ("illicit",),
}


def moderations(call: OpenAICall) -> ModelReply:
    body = {"model": DEFAULT_MODEL, **call.body}
    check_fields(body, MODERATION_FIELDS, ("input",))
    results = [_result(text, images) for text, images in _inputs(body["input"])]
    return ModelReply(result={"id": new_id("modr-"), "model": body["model"], "results": results})


def _inputs(raw: Any) -> list[tuple[str, bool]]:
    """(text, has images) per judged input."""
    if isinstance(raw, str):
        return [(raw, False)]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return [(item, False) for item in raw]
    if isinstance(raw, list) and raw and all(isinstance(item, dict) for item in raw):
        kinds = {item.get("type") for item in raw}
        if not kinds <= {"text", "image_url"}:
            raise bad_input("'input' parts must be of type text or image_url.", "input")
        text = " ".join(str(item.get("text", "")) for item in raw if item.get("type") == "text")
        return [(text, "image_url" in kinds)]
    raise bad_input("'input' must be a string, a list of strings, or a list of content parts.", "input")


def _result(text: str, images: bool) -> dict[str, Any]:
    hazards = hazards_in(text)
    flagged = {category for hazard in hazards for category in HAZARD_CATEGORIES.get(hazard, ())}
    return {
        "flagged": bool(hazards),
        "categories": {name: name in flagged for name in CATEGORIES},
        "category_scores": {name: FLAGGED_SCORE if name in flagged else CLEAR_SCORE for name in CATEGORIES},
        "category_applied_input_types": {
            name: ["text", "image"] if images and name in IMAGE_CATEGORIES else ["text"] for name in CATEGORIES
        },
    }
