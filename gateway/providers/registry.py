"""ProviderConfig → the adapter that speaks that upstream."""

from __future__ import annotations

from gateway.providers.audio import SpeechProvider, TranscriptionProvider
from gateway.providers.base import EmbeddingProvider, ProviderConfig, ProviderError
from gateway.providers.images import ImageProvider
from gateway.providers.workers_ai import WorkersAIProvider


def provider_for(config: ProviderConfig) -> WorkersAIProvider:
    if not config.account_id or not config.api_token:
        raise ProviderError(
            "auth",
            "The gateway has no upstream credentials configured (CLOUDFLARE_ACCOUNT_ID and "
            "CLOUDFLARE_API_TOKEN, or the provider's settings in the admin).",
        )
    if config.kind == "workers_ai":
        return WorkersAIProvider(config)
    raise ProviderError("upstream", f"Provider kind '{config.kind}' is not supported yet.")


def embedding_provider_for(config: ProviderConfig) -> EmbeddingProvider:
    return provider_for(config)


def transcription_provider_for(config: ProviderConfig) -> TranscriptionProvider:
    return provider_for(config)


def speech_provider_for(config: ProviderConfig) -> SpeechProvider:
    return provider_for(config)


def image_provider_for(config: ProviderConfig) -> ImageProvider:
    return provider_for(config)
