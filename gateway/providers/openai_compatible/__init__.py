"""Adapter for any OpenAI-compatible upstream: Cloudflare's /ai/v1, vLLM, Ollama's /v1, OpenAI.

Chat, legacy completions, embeddings and the model list speak OpenAI's REST API as documented
(https://platform.openai.com/docs/api-reference); the audio, image and moderation calls are in
media.py. Errors come in OpenAI's `{"error": {…}}` form or, from Cloudflare, in its
`{"errors": [{code, message}]}` form (errors.py reads both).
"""

from __future__ import annotations

from gateway.providers.openai_compatible.provider import OpenAICompatibleProvider
from gateway.providers.openai_compatible.stream import translate_chunks

__all__ = ["OpenAICompatibleProvider", "translate_chunks"]
