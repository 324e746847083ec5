"""Failed answers of an OpenAI-compatible upstream as ProviderErrors.

Two body shapes arrive: OpenAI's `{"error": {message, type, param, code}}`
(https://platform.openai.com/docs/guides/error-codes, also what vLLM and Ollama's /v1 send; older
vLLM puts those keys at the top level with `"object": "error"`), and Cloudflare's
`{"errors": [{code, message}]}` on its /ai/v1 paths
(https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/), whose codes
the Workers AI adapter already maps: that form is handed to it. The OpenAI form is mapped by HTTP
status, as OpenAI's SDKs do; its `code` is a string ("model_not_found") that only refines a 404.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from gateway.providers.base import ErrorKind, ProviderError
from gateway.providers.workers_ai import errors as cloudflare

UPSTREAM = "OpenAI-compatible upstream"

_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "bad_request",
    401: "auth",
    403: "permission",
    404: "bad_request",  # unless it is about the model: see _kind
    408: "timeout",
    413: "too_large",
    422: "bad_request",
    429: "rate_limited",
}
# A stream's error event has no status; OpenAI's error `type` says what it would have been.
_KIND_BY_TYPE: dict[str, ErrorKind] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "permission_error": "permission",
    "not_found_error": "model_not_found",
    "rate_limit_error": "rate_limited",
    "rate_limit_exceeded": "rate_limited",
    "insufficient_quota": "rate_limited",
    "server_error": "upstream",
}
_ABOUT_THE_MODEL = re.compile(r"\bmodel\b", re.IGNORECASE)
_MESSAGE_PREFIX: dict[ErrorKind, str] = {
    "model_not_found": "Upstream does not know the model",
    "bad_request": "Upstream rejected the request",
    "rate_limited": "Upstream is over capacity or its quota is used up",
    "permission": "Upstream does not allow this model for the gateway's credentials",
    "too_large": "Upstream says the request is too large",
    "timeout": "Upstream timed out",
    "unavailable": "Upstream is unavailable",
    "upstream": "Upstream error",
}


def error_from_response(
    status: int, headers: Mapping[str, str], raw: bytes, secrets_: tuple[str, ...]
) -> ProviderError:
    """A non-2xx answer, whichever of the two body shapes (or none) it has."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        return cloudflare.error_from_response(status, headers, raw, secrets_)
    fields = _openai_fields(body)
    kind = _kind(status, fields)
    retry_after = _retry_after(headers) if kind == "rate_limited" else None
    return _provider_error(kind, fields, secrets_, status=status, retry_after=retry_after)


def error_from_event(event: dict[str, Any], secrets_: tuple[str, ...]) -> ProviderError:
    """An `{"error": …}` (or Cloudflare `{"errors": […]}`) event in the middle of a stream."""
    if isinstance(event.get("errors"), list) and event["errors"]:
        return cloudflare.error_from_event(event, secrets_)
    fields = _openai_fields(event)
    # vLLM puts the status it would have answered in `code`.
    code = fields.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else None
    kind = _kind(status, fields) if status is not None else _KIND_BY_TYPE.get(str(fields.get("type")), "upstream")
    return _provider_error(kind, fields, secrets_, status=status)


def _openai_fields(body: Any) -> dict[str, Any]:
    """{message, type, code} of an error body, from any of the forms servers use."""
    if not isinstance(body, dict):
        return {}
    error = body.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):  # Ollama's native form, and some proxies
        return {"message": error}
    if body.get("object") == "error" or "message" in body:  # older vLLM: the fields at the top level
        return body
    if isinstance(body.get("detail"), str):  # FastAPI-based servers
        return {"message": body["detail"]}
    return {}


def _kind(status: int, fields: dict[str, Any]) -> ErrorKind:
    if status == 404 or fields.get("code") == "model_not_found":
        # OpenAI answers an unknown model with 404 and code model_not_found; vLLM and Ollama say
        # it in the message only ("The model `x` does not exist", "model 'x' not found").
        about_model = fields.get("code") == "model_not_found" or _ABOUT_THE_MODEL.search(str(fields.get("message")))
        return "model_not_found" if about_model else "bad_request"
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    return "bad_request" if 400 <= status < 500 else "upstream"


def _provider_error(
    kind: ErrorKind,
    fields: dict[str, Any],
    secrets_: tuple[str, ...],
    *,
    status: int | None,
    retry_after: int | None = None,
) -> ProviderError:
    raw_code = fields.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    if kind == "auth":
        # OpenAI's 401 quotes part of the key ("Incorrect API key provided: sk-ab***yz"): never
        # pass the upstream's wording on.
        reason = f"HTTP {status}" if status is not None else "an error event"
        text = f"Upstream refused the gateway's credentials ({reason}): the provider's API token is misconfigured."
        return ProviderError(kind, text, upstream_status=status, upstream_code=code)
    message = str(fields.get("message") or "")
    for secret in secrets_:
        if secret:
            message = message.replace(secret, "***")
    detail = message or (f"HTTP {status}" if status is not None else "no message")
    return ProviderError(
        kind,
        f"{_MESSAGE_PREFIX[kind]}: {detail}",
        upstream_status=status,
        upstream_code=code,
        retry_after=retry_after,
    )


def _retry_after(headers: Mapping[str, str]) -> int | None:
    """Seconds to wait: OpenAI's `retry-after-ms`, else Retry-After as delay-seconds or an HTTP
    date (RFC 9110 section 10.2.3). None when neither says (the gateway then picks its own)."""
    milliseconds = (headers.get("retry-after-ms") or "").strip()
    try:
        if milliseconds:
            return max(0, math.ceil(float(milliseconds) / 1000))
    except (ValueError, OverflowError):
        pass  # unreadable: Retry-After may still say
    header = (headers.get("Retry-After") or "").strip()
    if not header:
        return None
    try:
        return max(0, math.ceil(float(header)))
    except (ValueError, OverflowError):
        pass  # not delay-seconds: an HTTP date
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil(when.timestamp() - time.time()))
