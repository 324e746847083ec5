"""Upstream failures as ProviderErrors: code and status to kind, Retry-After, no leaked secrets.

Covers both the `{errors:[{code, message}]}` envelope of a failed answer and an error-shaped
stream event (https://developers.cloudflare.com/workers-ai/platform/errors/).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from gateway.providers.base import ErrorKind, ProviderError

UPSTREAM = "Workers AI"

# Match on the code, never on the message (reference, Errors): wording varies in practice.
_KIND_BY_CODE: dict[int, ErrorKind] = {
    5007: "model_not_found",
    5006: "bad_request",
    3040: "rate_limited",
    3036: "rate_limited",
    4006: "rate_limited",
    10000: "auth",
    7003: "auth",
    9106: "auth",
    5016: "permission",
    5018: "permission",
    3041: "permission",
    3006: "too_large",
    3007: "timeout",
    3008: "timeout",
}
# For an error without a known code, the status still says more than "bad request".
_KIND_BY_STATUS: dict[int, ErrorKind] = {
    401: "auth",
    403: "permission",
    408: "timeout",
    413: "too_large",
    429: "rate_limited",
}
# Retry-After when the upstream sends none. 3040 is momentary capacity ("No more data centers"),
# worth retrying within seconds. 3036/4006 mean the free daily neuron allocation is spent; it
# resets at 00:00 UTC, possibly hours away, but a minute keeps the hint within what OpenAI SDKs
# honour (at most 60 s) and lets the gateway see an upgraded account soon.
CAPACITY_RETRY_AFTER = 2
ALLOCATION_RETRY_AFTER = 60
_RETRY_AFTER_BY_CODE = {3040: CAPACITY_RETRY_AFTER, 3036: ALLOCATION_RETRY_AFTER, 4006: ALLOCATION_RETRY_AFTER}
_OTHER_RATE_LIMIT_RETRY_AFTER = 5

_MESSAGE_PREFIX: dict[ErrorKind, str] = {
    "model_not_found": "Upstream does not know the model",
    "bad_request": "Upstream rejected the request",
    "rate_limited": "Upstream is over capacity or its allocation is used up",
    "permission": "Upstream does not allow this model for the gateway's account",
    "too_large": "Upstream says the request is too large",
    "timeout": "Upstream timed out",
    "upstream": "Upstream error",
}


def error_from_response(
    status: int, headers: Mapping[str, str], raw: bytes, secrets_: tuple[str, ...]
) -> ProviderError:
    """Map a failed answer's `{errors:[{code, message}]}` envelope to a ProviderError."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ProviderError("upstream", f"Upstream error: HTTP {status} without a JSON body.", upstream_status=status)
    code, message = _first_error(body)
    return _provider_error(status, code, message, headers.get("Retry-After"), secrets_)


def error_from_event(event: dict[str, Any], secrets_: tuple[str, ...]) -> ProviderError:
    """Map an error-shaped stream event (`errors` like the envelope, or a bare `error`)."""
    code, message = _first_error(event)
    if code is None and not message:
        error = event.get("error")
        code, message = _first_error({"errors": [error if isinstance(error, dict) else {"message": str(error)}]})
    return _provider_error(None, code, message, None, secrets_)


def _first_error(body: Any) -> tuple[int | None, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return None, ""
    code = first.get("code")
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    return code, str(first.get("message") or "")


def _provider_error(
    status: int | None,
    code: int | None,
    message: str,
    retry_after_header: str | None,
    secrets_: tuple[str, ...],
) -> ProviderError:
    kind = _KIND_BY_CODE.get(code or 0) or _KIND_BY_STATUS.get(status or 0)
    if kind is None:
        kind = "bad_request" if status is not None and 400 <= status < 500 else "upstream"
    if kind == "auth":
        # The upstream text may quote the account id (7003 names the path): never pass it on.
        reason = f"code {code}" if code is not None else f"HTTP {status}"
        text = (
            f"Upstream refused the gateway's credentials ({reason}): the provider's API token "
            f"or account id is misconfigured."
        )
    else:
        for secret in secrets_:
            if secret:
                message = message.replace(secret, "***")
        detail = message or (f"code {code}" if code is not None else f"HTTP {status}")
        text = f"{_MESSAGE_PREFIX[kind]}: {detail}"
    retry_after = None
    if kind == "rate_limited":
        retry_after = _retry_after_seconds(retry_after_header)
        if retry_after is None:
            retry_after = _RETRY_AFTER_BY_CODE.get(code or 0, _OTHER_RATE_LIMIT_RETRY_AFTER)
    return ProviderError(kind, text, upstream_status=status, upstream_code=code, retry_after=retry_after)


def _retry_after_seconds(header: str | None) -> int | None:
    """Retry-After is delay-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not header:
        return None
    header = header.strip()
    if header.isascii() and header.isdigit():  # "²" is a digit int() refuses
        return int(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil(when.timestamp() - time.time()))
