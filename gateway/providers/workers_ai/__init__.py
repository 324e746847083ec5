"""Cloudflare Workers AI adapter: typed chat requests to /ai/run, upstream answers to typed results.

Every upstream fact used here is in Cloudflare's public documentation: the /ai/run REST API
(https://developers.cloudflare.com/api/resources/ai/methods/run/), the model pages and their
schemas (https://developers.cloudflare.com/workers-ai/models/), streaming
(https://developers.cloudflare.com/workers-ai/features/streaming/) and errors
(https://developers.cloudflare.com/workers-ai/platform/errors/). The model schemas are strict (an
unknown key is a 400/5006), so payloads carry only the fields a model family documents.
Answers come in three shapes and are told apart by their keys, not by the model name: the classic
`{response, tool_calls, usage}`, an OpenAI chat.completion inside `result` (Qwen3, Kimi, gpt-oss
given `messages`), and a Responses object (gpt-oss given `input`).
"""

from __future__ import annotations

from gateway.providers.workers_ai.provider import WorkersAIProvider
from gateway.providers.workers_ai.results import parse_result
from gateway.providers.workers_ai.stream import translate_stream

__all__ = ["WorkersAIProvider", "parse_result", "translate_stream"]
