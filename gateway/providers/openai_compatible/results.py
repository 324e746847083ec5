"""Whole answers of an OpenAI-compatible upstream as typed results: a chat.completion, a
text_completion, an embeddings list and the model list.

Shapes: https://platform.openai.com/docs/api-reference/chat/object, /completions/object,
/embeddings/object and /models/list. Reasoning arrives in a field of its own (`reasoning_content`
from vLLM, DeepSeek and Cloudflare's /ai/v1; `reasoning` from Ollama and OpenRouter) or, from a
server that does not parse it out, as a `<think>` block in the content.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from typing import Any

from gateway.providers.base import CatalogueModel, ChatResult, EmbeddingResult, ProviderError
from gateway.providers.embedding_vectors import checked_vectors
from gateway.providers.openai_shapes import tool_calls_of, usage_of
from gateway.providers.reasoning import split_reasoning

# Finish reasons passed on as the upstream said them: ones the gateway cannot work out itself.
# "stop" and "tool_calls" it derives from what it sends (stop sequences, tool plans, usage).
KEPT_FINISH_REASONS = frozenset({"length", "content_filter"})

# The gateway's task for a model id, by the names the common embedding, speech and image models
# carry; everything else is taken for a chat model (GET /models says nothing about tasks).
_TASK_BY_ID = (
    ("embedding", re.compile(r"embed|(^|[/_-])(bge|e5|gte)([_-]|$)|minilm", re.IGNORECASE)),
    ("moderation", re.compile(r"moderation", re.IGNORECASE)),
    ("transcription", re.compile(r"whisper|transcribe", re.IGNORECASE)),
    ("speech", re.compile(r"(^|[/_-])tts([_-]|$)", re.IGNORECASE)),
    ("image", re.compile(r"dall-e|gpt-image|stable-diffusion|flux", re.IGNORECASE)),
)


def parse_chat_completion(body: dict[str, Any], starts_in_reasoning: bool) -> ChatResult:
    choice = first_choice(body)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    separate = reasoning_of(message)
    # A route flagged as reasoning whose server does not split reasoning out sends it as content,
    # opened by the chat template's <think> (gateway/providers/reasoning.py); one that does split
    # it leaves no block to find. Other routes: only a literal leading <think> block is split off.
    tagged, content = split_reasoning(text_of(message.get("content")), starts_in_reasoning and not separate)
    return ChatResult(
        content=content,
        reasoning="\n".join(part for part in (separate, tagged) if part),
        tool_calls=tool_calls_of(message.get("tool_calls")),
        usage=usage_of(body.get("usage")),
        finish_reason=kept_finish_reason(choice.get("finish_reason")),
    )


def parse_text_completion(body: dict[str, Any], starts_in_reasoning: bool) -> ChatResult:
    choice = first_choice(body)
    reasoning, content = split_reasoning(text_of(choice.get("text")), starts_in_reasoning)
    return ChatResult(
        content=content,
        reasoning=reasoning,
        usage=usage_of(body.get("usage")),
        finish_reason=kept_finish_reason(choice.get("finish_reason")),
    )


def first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError("upstream", "Upstream error: the answer has no choices.")
    # The gateway asks for one choice (n is served by separate calls); take index 0 if labelled.
    labelled = [c for c in choices if isinstance(c, dict) and c.get("index") == 0]
    return labelled[0] if labelled else choices[0]


def reasoning_of(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def text_of(content: Any) -> str:
    """Content as text: a string, null, or (from some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def kept_finish_reason(value: Any) -> str | None:
    return value if value in KEPT_FINISH_REASONS else None


def parse_embeddings_list(body: dict[str, Any], expected: int) -> EmbeddingResult:
    """`data: [{index, embedding}]` in index order, checked against the texts sent."""
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ProviderError("upstream", "Upstream error: the embeddings answer has no data list.")
    indexes = [row.get("index") for row in data]
    if all(isinstance(i, int) for i in indexes) and sorted(indexes) == list(range(len(data))):
        data = sorted(data, key=lambda row: row["index"])
    vectors = checked_vectors([_vector(row.get("embedding")) for row in data], expected)
    return EmbeddingResult(vectors=vectors, usage=usage_of(body.get("usage")))


def _vector(value: Any) -> Any:
    # Asked for floats; a server that answers base64 anyway sends little-endian float32s.
    if not isinstance(value, str):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ProviderError("upstream", "Upstream error: an embedding is neither numbers nor base64.") from exc
    if len(raw) % 4:
        raise ProviderError("upstream", "Upstream error: a base64 embedding is not whole float32s.")
    return [v for (v,) in struct.iter_unpack("<f", raw)]


def parse_model_list(body: dict[str, Any]) -> list[CatalogueModel]:
    data = body.get("data")
    if not isinstance(data, list):
        raise ProviderError("upstream", "Upstream error: the model list has no data.")
    models = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        created = item.get("created")
        valid_time = isinstance(created, int | float) and not isinstance(created, bool) and math.isfinite(created)
        models.append(
            CatalogueModel(name=item["id"], task=task_of(item["id"]), created=int(created) if valid_time else None)
        )
    return models


def task_of(model_id: str) -> str:
    for task, pattern in _TASK_BY_ID:
        if pattern.search(model_id):
            return task
    return "chat"
