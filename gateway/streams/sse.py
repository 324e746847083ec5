"""Server-sent events as OpenAI clients read them: chat and completions send `data:` lines only;
the Responses API names each event (`event: <type>` before its `data:`, whose `type` is the same;
https://platform.openai.com/docs/api-reference/responses-streaming)."""

from __future__ import annotations

import json
from typing import Any

DONE = b"data: [DONE]\n\n"
# A comment line: clients ignore it, proxies see traffic and keep the connection open.
PING = b": ping\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def named_event(payload: dict[str, Any]) -> bytes:
    """An event named by its payload's `type`."""
    return f"event: {payload['type']}\n".encode() + event(payload)
