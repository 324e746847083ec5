"""The one error type of the gateway and the upstream mapping into it.

Raised anywhere in a request and rendered as the OpenAI envelope, `{"error": {"message", "type",
"param", "code"}}`, by gateway/http/envelope.py (https://platform.openai.com/docs/guides/error-codes).
"""

from __future__ import annotations

from typing import Any

from gateway.providers.base import ProviderError

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class GatewayError(Exception):
    """Raised anywhere in a request; rendered as the OpenAI envelope with its status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


# kind → (HTTP status, error type, code). Workers AI codes behind each kind: see
# gateway/providers/workers_ai/errors.py and https://developers.cloudflare.com/workers-ai/platform/errors/.
_UPSTREAM: dict[str, tuple[int, str, str]] = {
    "model_not_found": (404, "invalid_request_error", "model_not_found"),
    "bad_request": (400, "invalid_request_error", "upstream_bad_request"),
    "rate_limited": (429, "rate_limit_exceeded", "upstream_rate_limited"),
    "auth": (502, "upstream_error", "upstream_auth_failed"),
    "permission": (403, "permission_error", "upstream_permission_denied"),
    "too_large": (413, "invalid_request_error", "request_too_large"),
    "timeout": (504, "upstream_error", "upstream_timeout"),
    "unavailable": (502, "upstream_error", "upstream_unavailable"),
    "upstream": (502, "upstream_error", "upstream_error"),
}


def from_provider_error(exc: ProviderError) -> GatewayError:
    status, type_, code = _UPSTREAM[exc.kind]
    headers = {}
    if status == 429:
        retry_after = exc.retry_after if exc.retry_after is not None else 1
        headers["Retry-After"] = str(retry_after)
    return GatewayError(status, exc.message, type=type_, code=code, headers=headers)


def body_too_large() -> GatewayError:
    from django.conf import settings

    return GatewayError(
        413,
        f"The request body is larger than this gateway accepts ({settings.GATEWAY_MAX_BODY_BYTES} bytes).",
        code="request_too_large",
    )
