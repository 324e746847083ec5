"""The emulator's model catalogue, served by GET /accounts/{id}/ai/models/search.

Item shape, property ids and the rule that property values are strings (price an array) follow
the model search API (https://developers.cloudflare.com/api/resources/ai/subresources/models/methods/list/);
context windows come from the model pages (https://developers.cloudflare.com/workers-ai/models/).
Ids, descriptions and dates are the emulator's own: nothing should depend on them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

# How the emulator validates and answers a model; several catalogue entries share a family.
Family = Literal[
    "llama",  # classic text generation: {prompt}|{messages} → {response, tool_calls, usage}
    "vision",  # llama-3.2-11b-vision: content arrays, `image`, licence gate
    "qwq",  # reasoning: output starts with "<think>\n"
    "r1-distill",  # reasoning: the chat template already opened <think>, output omits it
    "qwen3",  # messages → OpenAI chat.completion inside `result`
    "gpt-oss",  # Responses form (`input`), or messages → chat.completion
    "guard",  # llama-guard moderation
    "embeddings",
    "whisper",  # raw bytes or {"audio": [uint8…]}
    "whisper-turbo",  # {"audio": "<base64>", "task": …}
    "melotts",  # {"prompt", "lang"} → {"audio": base64 MP3}
    "aura",  # Deepgram Aura: {"text", "speaker", "encoding", …} → the audio bytes, not enveloped
    "flux",  # FLUX.1 schnell: {prompt, steps} → {"image": base64 1024×1024 JPEG}
    "sdxl",  # Stable Diffusion family: {prompt, width, height, seed, …} → the PNG bytes, not enveloped
    "not-emulated",  # listed so the catalogue is realistic; /ai/run answers 5006
]

_TASKS: dict[str, str] = {
    "Text Generation": "Family of generative text models that predict the next tokens of a text.",
    "Text Embeddings": "Models that turn text into vectors for search, clustering and similarity.",
    "Automatic Speech Recognition": "Models that transcribe or translate spoken audio into text.",
    "Text-to-Speech": "Models that synthesise speech audio from text.",
    "Text-to-Image": "Models that generate an image from a text prompt.",
    "Image-to-Text": "Models that describe an image in text.",
}

# A fixed namespace keeps ids stable across runs (uuid5) without pretending to be Cloudflare's.
_NAMESPACE = uuid.UUID("6f1c1f3e-8d0b-4a7e-9a51-0d4e2c9b7a10")


def _task(name: str) -> dict[str, str]:
    return {"id": str(uuid.uuid5(_NAMESPACE, "task:" + name)), "name": name, "description": _TASKS[name]}


@dataclass(frozen=True)
class CatalogueModel:
    name: str
    task: str
    family: Family
    description: str
    context_window: int | None = None
    function_calling: bool = False
    reasoning: bool = False
    vision: bool = False
    beta: bool = False
    output_dimensions: int | None = None
    max_input_tokens: int | None = None
    # USD per million tokens (input, output); see https://developers.cloudflare.com/workers-ai/platform/pricing/
    price: tuple[float, float] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, "model:" + self.name))

    def properties(self) -> list[dict[str, Any]]:
        props: list[dict[str, Any]] = []
        if self.beta:
            props.append({"property_id": "beta", "value": "true"})
        if self.context_window is not None:
            props.append({"property_id": "context_window", "value": str(self.context_window)})
        if self.max_input_tokens is not None:
            props.append({"property_id": "max_input_tokens", "value": str(self.max_input_tokens)})
        if self.output_dimensions is not None:
            props.append({"property_id": "output_dimensions", "value": str(self.output_dimensions)})
        if self.function_calling:
            props.append({"property_id": "function_calling", "value": "true"})
        if self.reasoning:
            props.append({"property_id": "reasoning", "value": "true"})
        if self.price is not None:
            props.append(
                {
                    "property_id": "price",
                    "value": [
                        {"unit": "per M input tokens", "price": self.price[0], "currency": "USD"},
                        {"unit": "per M output tokens", "price": self.price[1], "currency": "USD"},
                    ],
                }
            )
        if self.family == "vision":
            props.append({"property_id": "terms", "value": "https://www.llama.com/llama3_2/license/"})
        return props

    def to_item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": 1,
            "name": self.name,
            "description": self.description,
            "task": _task(self.task),
            "created_at": "2025-01-01 00:00:00.000",
            "tags": list(self.tags),
            "properties": self.properties(),
        }


_TG = "Text Generation"
_EMB = "Text Embeddings"
_ASR = "Automatic Speech Recognition"
_TTS = "Text-to-Speech"
_TTI = "Text-to-Image"

MODELS: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        "@cf/meta/llama-3.1-8b-instruct-fp8",
        _TG,
        "llama",
        "Llama 3.1 8B instruct, FP8-quantised.",
        32000,
        function_calling=True,
        price=(0.152, 0.287),
    ),
    CatalogueModel(
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        _TG,
        "llama",
        "Llama 3.3 70B instruct, FP8 with speculative decoding.",
        24000,
        function_calling=True,
        price=(0.293, 2.253),
    ),
    CatalogueModel(
        "@cf/meta/llama-3.2-11b-vision-instruct",
        _TG,
        "vision",
        "Llama 3.2 11B instruct with image understanding.",
        128000,
        vision=True,
    ),
    CatalogueModel(
        "@cf/meta/llama-3.2-3b-instruct", _TG, "llama", "Llama 3.2 3B instruct, a small multilingual model.", 128000
    ),
    CatalogueModel(
        "@cf/qwen/qwq-32b", _TG, "qwq", "QwQ 32B, a reasoning model of the Qwen series.", 24000, reasoning=True
    ),
    CatalogueModel(
        "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
        _TG,
        "r1-distill",
        "DeepSeek-R1 distilled into Qwen 32B.",
        80000,
        reasoning=True,
    ),
    CatalogueModel(
        "@cf/qwen/qwen2.5-coder-32b-instruct", _TG, "llama", "Qwen 2.5 Coder 32B instruct, tuned for code.", 32768
    ),
    CatalogueModel(
        "@cf/qwen/qwen3-30b-a3b-fp8",
        _TG,
        "qwen3",
        "Qwen3 30B mixture-of-experts with reasoning, FP8.",
        32768,
        function_calling=True,
        reasoning=True,
    ),
    CatalogueModel(
        "@cf/openai/gpt-oss-120b",
        _TG,
        "gpt-oss",
        "OpenAI's open-weight 120B reasoning model.",
        128000,
        function_calling=True,
        reasoning=True,
    ),
    CatalogueModel(
        "@cf/openai/gpt-oss-20b",
        _TG,
        "gpt-oss",
        "OpenAI's open-weight 20B reasoning model.",
        128000,
        function_calling=True,
        reasoning=True,
    ),
    CatalogueModel(
        "@cf/meta/llama-guard-3-8b",
        _TG,
        "guard",
        "Llama Guard 3 8B, classifies prompts and replies as safe or unsafe.",
        131072,
    ),
    CatalogueModel(
        "@cf/mistral/mistral-7b-instruct-v0.1",
        _TG,
        "llama",
        "Mistral 7B instruct v0.1 (an extra, not in the gateway's mapping).",
        2824,
    ),
    CatalogueModel(
        "@cf/baai/bge-small-en-v1.5",
        _EMB,
        "embeddings",
        "BAAI general embedding, small, English.",
        512,
        output_dimensions=384,
        max_input_tokens=512,
    ),
    CatalogueModel(
        "@cf/baai/bge-base-en-v1.5",
        _EMB,
        "embeddings",
        "BAAI general embedding, base, English.",
        512,
        output_dimensions=768,
        max_input_tokens=512,
    ),
    CatalogueModel(
        "@cf/baai/bge-large-en-v1.5",
        _EMB,
        "embeddings",
        "BAAI general embedding, large, English.",
        512,
        output_dimensions=1024,
        max_input_tokens=512,
    ),
    CatalogueModel(
        "@cf/baai/bge-m3", _EMB, "embeddings", "BAAI multilingual embedding (an extra).", 60000, output_dimensions=1024
    ),
    CatalogueModel(
        "@cf/google/embeddinggemma-300m", _EMB, "embeddings", "Google EmbeddingGemma (an extra).", output_dimensions=768
    ),
    CatalogueModel("@cf/openai/whisper", _ASR, "whisper", "Whisper speech recognition.", tags=("audio",)),
    CatalogueModel(
        "@cf/openai/whisper-tiny-en", _ASR, "whisper", "Whisper tiny, English only.", beta=True, tags=("audio",)
    ),
    CatalogueModel(
        "@cf/openai/whisper-large-v3-turbo",
        _ASR,
        "whisper-turbo",
        "Whisper large v3 turbo, transcribes and translates.",
        tags=("audio",),
    ),
    CatalogueModel("@cf/myshell-ai/melotts", _TTS, "melotts", "MeloTTS multilingual speech synthesis."),
    CatalogueModel("@cf/deepgram/aura-1", _TTS, "aura", "Deepgram Aura 1, English speech synthesis.", tags=("audio",)),
    CatalogueModel(
        "@cf/deepgram/aura-2-en", _TTS, "aura", "Deepgram Aura 2, English speech synthesis.", tags=("audio",)
    ),
    CatalogueModel("@cf/black-forest-labs/flux-1-schnell", _TTI, "flux", "FLUX.1 schnell, fast text-to-image."),
    # The Stable Diffusion pages mark all three Beta; they answer a bare PNG, not an envelope.
    CatalogueModel(
        "@cf/stabilityai/stable-diffusion-xl-base-1.0",
        _TTI,
        "sdxl",
        "Stable Diffusion XL base 1.0, text-to-image (an extra; answers a raw PNG).",
        beta=True,
    ),
    CatalogueModel(
        "@cf/bytedance/stable-diffusion-xl-lightning",
        _TTI,
        "sdxl",
        "SDXL-Lightning, few-step text-to-image (an extra; answers a raw PNG).",
        beta=True,
    ),
    CatalogueModel(
        "@cf/lykon/dreamshaper-8-lcm",
        _TTI,
        "sdxl",
        "DreamShaper 8 LCM, Stable Diffusion fine-tune (an extra; answers a raw PNG).",
        beta=True,
    ),
    CatalogueModel(
        "@cf/llava-hf/llava-1.5-7b-hf",
        "Image-to-Text",
        "not-emulated",
        "LLaVA 1.5 7B image captioning (an extra, not emulated).",
        beta=True,
    ),
)

_BY_NAME: dict[str, CatalogueModel] = {m.name: m for m in MODELS}

# Cloudflare does not document a default page size for /ai/models/search; 20 is the usual default
# of its v4 page-paginated lists, and a small default makes gateways prove they paginate.
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def find_model(name: str) -> CatalogueModel | None:
    return _BY_NAME.get(name)


def search_models(
    *,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    search: str | None = None,
    task: str | None = None,
    author: str | None = None,
    hide_experimental: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Filter, then page; returns (items, result_info) as the search endpoint reports them."""
    matches = list(MODELS)
    if search:
        needle = search.lower()
        matches = [m for m in matches if needle in m.name.lower() or needle in m.description.lower()]
    if task:
        wanted = task.lower()
        matches = [m for m in matches if wanted in (m.task.lower(), _task(m.task)["id"])]
    if author:
        # The author is the path segment after "@cf/", e.g. "meta" in @cf/meta/llama-….
        matches = [m for m in matches if m.name.split("/")[1].lower() == author.lower()]
    if hide_experimental:
        matches = [m for m in matches if not m.beta]
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    start = (page - 1) * per_page
    items = [m.to_item() for m in matches[start : start + per_page]]
    info = {"count": len(items), "page": page, "per_page": per_page, "total_count": len(matches)}
    return items, info
