"""Server-sent events as OpenAI clients read them: `data:` lines only, never `event:` lines."""

from __future__ import annotations

import json
from typing import Any

DONE = b"data: [DONE]\n\n"
# A comment line: clients ignore it, proxies see traffic and keep the connection open.
PING = b": ping\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
