"""A moderation request: `input` as a string, strings or text content parts, and its demand.

OpenAI's shape: https://platform.openai.com/docs/api-reference/moderations/create
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.entry import Demand
from gateway.accounting.tokens import estimate_prompt_tokens
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.http.request_fields import check_model_name
from gateway.providers.base import ChatMessage

DEFAULT_MODEL = "omni-moderation-latest"
MAX_INPUTS = 32  # one upstream call each, made one after another
# A verdict naming all 14 codes is about 70 tokens of JSON; the cap only guards against rambling.
VERDICT_MAX_TOKENS = 128

_INPUT_SHAPE = "'input' must be a string, an array of strings, or an array of content parts."


@dataclass(frozen=True)
class ModerationRequest:
    model: str
    inputs: tuple[str, ...]  # one result each; an array of content parts is one input

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        """One verdict per input, each held to VERDICT_MAX_TOKENS."""
        prompt = sum(estimate_prompt_tokens(verdict_prompt(text)) for text in self.inputs)
        completion = len(self.inputs) * VERDICT_MAX_TOKENS
        return Demand(prompt_tokens=prompt, completion_requested=completion, completion_bound=completion)


def verdict_prompt(text: str) -> tuple[ChatMessage, ...]:
    """What the moderation model is asked: the input alone, as a user message."""
    return (ChatMessage(role="user", content=text),)


def parse_moderation_request(data: Any) -> ModerationRequest:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    model = data.get("model")
    if model is None:
        model = DEFAULT_MODEL
    elif not isinstance(model, str) or not model:
        raise invalid("'model' must be a non-empty string.", param="model")
    else:
        check_model_name(model)
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
