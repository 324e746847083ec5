"""The body of POST /v1/images/generations, validated into a typed request.

Fields and limits are OpenAI's (https://platform.openai.com/docs/api-reference/images/create):
prompt lengths, `n` and sizes per model name — dall-e-2, dall-e-3 and gpt-image-1 as OpenAI has
them; any other name (a raw `@cf/…` model, an operator's own) takes any of those sizes and up to
10 images. `quality`, `style`, `background` and `moderation` are checked and otherwise without
effect (the upstream models have no such knobs); `user` is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.accounting.entry import Demand
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid
from gateway.http.request_fields import check_model_name, parse_integer
from images.imaging import FORMATS

DEFAULT_MODEL = "dall-e-2"  # OpenAI's default when `model` is left out
MAX_N = 10
RESPONSE_FORMATS = ("url", "b64_json")


@dataclass(frozen=True)
class ModelRules:
    prompt_limit: int
    sizes: tuple[str, ...]
    max_n: int = MAX_N
    qualities: tuple[str, ...] = ("standard", "hd", "low", "medium", "high", "auto")


_DALLE_2 = ModelRules(1000, ("256x256", "512x512", "1024x1024"))
_DALLE_3 = ModelRules(4000, ("1024x1024", "1792x1024", "1024x1792"), max_n=1, qualities=("standard", "hd"))
_GPT_IMAGE = ModelRules(
    32000, ("1024x1024", "1536x1024", "1024x1536", "auto"), qualities=("low", "medium", "high", "auto")
)
_OTHER = ModelRules(32000, tuple(dict.fromkeys(_DALLE_2.sizes + _DALLE_3.sizes + _GPT_IMAGE.sizes)))
_RULES = {"dall-e-2": _DALLE_2, "dall-e-3": _DALLE_3, "gpt-image-1": _GPT_IMAGE}


def rules_for(model: str) -> ModelRules:
    return _RULES.get(model, _OTHER)


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str
    n: int
    width: int
    height: int
    response_format: str = "url"
    output_format: str = "png"
    output_compression: int | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def demand(self, targets: Sequence[RouteTarget]) -> Demand:
        return Demand(images=self.n)


def _choice(data: dict[str, Any], name: str, allowed: Sequence[str], default: str | None) -> str | None:
    value = data.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise invalid(f"'{name}' must be one of {', '.join(allowed)}; got {value!r}.", param=name)
    return str(value)


def parse_generation(data: Any) -> GenerationRequest:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    model = data.get("model")
    if model is None:
        model = DEFAULT_MODEL
    if not isinstance(model, str) or not model:
        raise invalid("'model' must be a model name.", param="model")
    check_model_name(model)
    rules = rules_for(model)
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("You must provide a non-empty string 'prompt'.", param="prompt")
    if len(prompt) > rules.prompt_limit:
        raise invalid(
            f"'prompt' is {len(prompt)} characters long; {model} takes at most {rules.prompt_limit}.",
            param="prompt",
            code="string_above_max_length",
        )
    n = parse_integer(data, "n", 1, MAX_N)
    n = 1 if n is None else n
    if n > rules.max_n:
        raise invalid(f"{model} makes at most {rules.max_n} image per request; got n={n}.", param="n")
    size = _choice(data, "size", rules.sizes, "1024x1024")
    width, height = (1024, 1024) if size in (None, "auto") else (int(side) for side in str(size).split("x"))
    _choice(data, "quality", rules.qualities, None)
    _choice(data, "style", ("vivid", "natural"), None)
    _choice(data, "background", ("transparent", "opaque", "auto"), None)
    _choice(data, "moderation", ("low", "auto"), None)
    response_format = _choice(data, "response_format", RESPONSE_FORMATS, "url")
    output_format = _choice(data, "output_format", FORMATS, "png")
    compression = parse_integer(data, "output_compression", 0, 100)  # png is lossless: it has no effect there
    return GenerationRequest(
        model=model,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        response_format=response_format or "url",
        output_format=output_format or "png",
        output_compression=compression,
    )
