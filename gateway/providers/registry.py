"""ProviderConfig → the adapter that speaks that upstream."""

from __future__ import annotations

from gateway.providers.audio import SpeechProvider, TranscriptionProvider
from gateway.providers.base import EmbeddingProvider, ProviderConfig, ProviderError
from gateway.providers.images import ImageProvider
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from gateway.providers.workers_ai import WorkersAIProvider

Provider = WorkersAIProvider | OpenAICompatibleProvider


def provider_for(config: ProviderConfig) -> Provider:
    if config.kind == "workers_ai":
        if not config.account_id or not config.api_token:
            raise ProviderError(
                "auth",
                "The gateway has no upstream credentials configured (CLOUDFLARE_ACCOUNT_ID and "
                "CLOUDFLARE_API_TOKEN, or the provider's settings in the admin).",
            )
        return WorkersAIProvider(config)
    if config.kind == "openai_compatible":
        # A token is optional (Ollama and a local vLLM take none); the base URL is not.
        if not config.base_url:
            raise ProviderError(
                "auth",
                "The OpenAI-compatible provider has no base URL configured (the part before "
                "/chat/completions, e.g. https://api.openai.com/v1): set it in the admin.",
            )
        return OpenAICompatibleProvider(config)
    raise ProviderError("auth", f"Provider kind '{config.kind}' is not supported: the provider is misconfigured.")


def embedding_provider_for(config: ProviderConfig) -> EmbeddingProvider:
    return provider_for(config)


def transcription_provider_for(config: ProviderConfig) -> TranscriptionProvider:
    return provider_for(config)


def speech_provider_for(config: ProviderConfig) -> SpeechProvider:
    return provider_for(config)


def image_provider_for(config: ProviderConfig) -> ImageProvider:
    return provider_for(config)
