"""One JSON line per request on the "gateway.requests" logger, written as a `usage.settle` step.

The line names the request, not its content: no key (only the key's prefix, as the admin shows
it), no upstream answer, and no message or prompt text unless GATEWAY_LOG_PROMPTS is on, when a
`prompt` field carries the first 500 characters of what the client asked.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.accounting.entry import UsageEntry

log = logging.getLogger("gateway.requests")

_MODEL_CHARS = 200  # the requested name is client input: a line stays a line, not a payload


def line_for(entry: UsageEntry) -> dict[str, Any]:
    principal = entry.principal
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": entry.request_id,
        "key_prefix": principal.prefix if principal else "",
        "endpoint": entry.endpoint,
        "model": entry.public_model[:_MODEL_CHARS],
        "upstream_model": entry.upstream_model,
        "provider": entry.provider,
        "status": entry.status,
        "error_code": entry.error_code,
        "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens,
        "latency_ms": entry.latency_ms,
        "upstream_latency_ms": entry.upstream_latency_ms,
        "ttft_ms": entry.ttft_ms,
        "streamed": entry.streamed,
        "cached": entry.cached,
        "client_disconnected": entry.client_disconnected,
    } | ({"prompt": entry.prompt_excerpt} if entry.prompt_excerpt else {})


def write(entry: UsageEntry) -> None:
    """A `usage.settle` step."""
    if log.isEnabledFor(logging.INFO):
        log.info(json.dumps(line_for(entry), separators=(",", ":")))
