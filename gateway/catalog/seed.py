"""The model mappings `seed_models` installs: the original project's model table (README "Model names").

Context windows come from Cloudflare's model pages (https://developers.cloudflare.com/workers-ai/models/)
where they list them, otherwise from Cloudflare's model catalogue (`sync_models` refreshes them from
the live catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpstreamModel:
    name: str
    task: str  # the task of its raw "@cf/…" route
    context_window: int | None = None
    tools: bool = False
    vision: bool = False
    json_mode: bool = False
    reasoning: bool = False  # output opens inside <think> (the chat template emitted the tag)
    dimensions: int | None = None  # embedding models: the vector length


LLAMA_31_8B = UpstreamModel("@cf/meta/llama-3.1-8b-instruct-fp8", "chat", 32_000, tools=True, json_mode=True)
LLAMA_33_70B = UpstreamModel("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "chat", 24_000, tools=True, json_mode=True)
LLAMA_32_VISION = UpstreamModel("@cf/meta/llama-3.2-11b-vision-instruct", "chat", 128_000, vision=True)
LLAMA_32_3B = UpstreamModel("@cf/meta/llama-3.2-3b-instruct", "chat", 128_000, json_mode=True)
QWQ_32B = UpstreamModel("@cf/qwen/qwq-32b", "chat", 24_000, reasoning=True)
R1_DISTILL = UpstreamModel("@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", "chat", 80_000, reasoning=True)
QWEN_CODER = UpstreamModel("@cf/qwen/qwen2.5-coder-32b-instruct", "chat", 32_768, json_mode=True)
GPT_OSS_120B = UpstreamModel("@cf/openai/gpt-oss-120b", "chat", 128_000, tools=True)
GPT_OSS_20B = UpstreamModel("@cf/openai/gpt-oss-20b", "chat", 128_000, tools=True)
# Vector lengths from the model pages (https://developers.cloudflare.com/workers-ai/models/bge-small-en-v1.5/ …).
BGE_SMALL = UpstreamModel("@cf/baai/bge-small-en-v1.5", "embedding", 512, dimensions=384)
BGE_BASE = UpstreamModel("@cf/baai/bge-base-en-v1.5", "embedding", 512, dimensions=768)
BGE_LARGE = UpstreamModel("@cf/baai/bge-large-en-v1.5", "embedding", 512, dimensions=1024)
WHISPER_TURBO = UpstreamModel("@cf/openai/whisper-large-v3-turbo", "transcription")
WHISPER_TINY = UpstreamModel("@cf/openai/whisper-tiny-en", "transcription")
WHISPER = UpstreamModel("@cf/openai/whisper", "transcription")
MELOTTS = UpstreamModel("@cf/myshell-ai/melotts", "speech")
# Deepgram's voices (https://developers.cloudflare.com/workers-ai/models/aura-1/): raw names only;
# point tts-1-hd (or a name of your own) at one in the admin to use them for OpenAI's names.
AURA_1 = UpstreamModel("@cf/deepgram/aura-1", "speech")
AURA_2_EN = UpstreamModel("@cf/deepgram/aura-2-en", "speech")
FLUX_SCHNELL = UpstreamModel("@cf/black-forest-labs/flux-1-schnell", "image")
SDXL = UpstreamModel("@cf/stabilityai/stable-diffusion-xl-base-1.0", "image")  # takes width and height
LLAMA_GUARD = UpstreamModel("@cf/meta/llama-guard-3-8b", "moderation", 131_072)

# (public name, task on the gateway, upstream model)
MAPPINGS: tuple[tuple[str, str, UpstreamModel], ...] = (
    ("gpt-3.5-turbo", "chat", LLAMA_31_8B),
    ("gpt-4", "chat", LLAMA_33_70B),
    ("gpt-4o", "chat", LLAMA_32_VISION),
    ("gpt-4-turbo", "chat", LLAMA_33_70B),
    ("gpt-3.5-turbo-16k", "chat", QWQ_32B),
    ("gpt-4-32k", "chat", R1_DISTILL),
    ("gpt-4o-mini", "chat", LLAMA_32_3B),
    ("gpt-4-vision-preview", "chat", LLAMA_32_VISION),
    ("gpt-3.5-turbo-instruct", "completion", QWEN_CODER),
    ("code-davinci-002", "completion", QWEN_CODER),
    ("text-embedding-ada-002", "embedding", BGE_BASE),
    ("text-embedding-3-small", "embedding", BGE_SMALL),
    ("text-embedding-3-large", "embedding", BGE_LARGE),
    ("whisper-1", "transcription", WHISPER_TURBO),
    ("whisper-1", "translation", WHISPER_TURBO),
    ("whisper", "transcription", WHISPER_TURBO),
    ("whisper", "translation", WHISPER_TURBO),
    ("whisper-tiny-en", "transcription", WHISPER_TINY),
    ("whisper-large-v3-turbo", "transcription", WHISPER_TURBO),
    ("whisper-large-v3-turbo", "translation", WHISPER_TURBO),
    ("tts-1", "speech", MELOTTS),
    ("tts-1-hd", "speech", MELOTTS),
    ("dall-e-2", "image", FLUX_SCHNELL),
    ("dall-e-3", "image", FLUX_SCHNELL),
    ("text-moderation-latest", "moderation", LLAMA_GUARD),
    ("text-moderation-stable", "moderation", LLAMA_GUARD),
    ("omni-moderation-latest", "moderation", LLAMA_GUARD),
)

# Second routes behind a name, after its first (priority 1), for requests its first cannot serve
# (gateway/catalog/capabilities.py): gpt-4o's vision model has neither tools nor JSON mode, so
# text-only gpt-4o requests that need them (structured output, forced tool calls) go to Llama 3.3.
# seed_models creates one only with its name's first route; migration gateway/0011 adds gpt-4o's to
# installations seeded before it existed (a copy of its fields: migrations do not follow this table).
SECOND_ROUTES: tuple[tuple[str, str, UpstreamModel], ...] = (("gpt-4o", "chat", LLAMA_33_70B),)

# Upstream models served under their raw "@cf/…" names too (GATEWAY_EXPOSE_RAW_MODELS).
_BY_NAME = {model.name: model for _, _, model in MAPPINGS}
UPSTREAM_MODELS: tuple[UpstreamModel, ...] = (
    *_BY_NAME.values(),
    GPT_OSS_120B,
    GPT_OSS_20B,
    WHISPER,
    AURA_1,
    AURA_2_EN,
    SDXL,
)
