"""The OpenAI error envelope: one exception type, one DRF handler, one upstream mapping.

Every non-success answer is `{"error": {"message", "type", "param", "code"}}` JSON
(shared/reference/openai-contract.md, "Errors and headers").
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

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
# gateway/providers/workers_ai.py and shared/reference/workers-ai-api.md "Errors".
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


def error_response(error: GatewayError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    # Set here, not left to CommonMiddleware: the 413 leaves before that middleware runs, with the
    # request body unread, and without a length the client could only wait for the connection to
    # close, which a server draining the declared body never does.
    response["Content-Length"] = str(len(response.content))
    for name, value in error.headers.items():
        response[name] = value
    return response


def from_drf(exc: drf.APIException) -> GatewayError:
    status = exc.status_code
    detail = exc.detail
    if isinstance(exc, drf.ParseError):
        return GatewayError(400, f"We could not parse the JSON body of your request. ({detail})", code="invalid_json")
    if isinstance(exc, drf.UnsupportedMediaType):
        return GatewayError(415, f"{detail} Send the body as application/json.", code="unsupported_media_type")
    if isinstance(exc, drf.MethodNotAllowed):
        return GatewayError(405, str(detail), code="method_not_allowed")
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return GatewayError(401, str(detail), code="invalid_api_key")
    if isinstance(exc, drf.Throttled):
        return GatewayError(429, str(detail), code="rate_limit_exceeded", headers={"Retry-After": str(exc.wait or 1)})
    if isinstance(detail, dict):
        param, messages = next(iter(detail.items()))
        message = messages[0] if isinstance(messages, list) else messages
        return GatewayError(status, f"{param}: {message}", param=str(param))
    return GatewayError(status, str(detail))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error a view raises leaves as the OpenAI envelope."""
    if isinstance(exc, ProviderError):
        exc = from_provider_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
    elif isinstance(exc, Http404):
        exc = GatewayError(404, "Not found.", code="not_found")
    elif isinstance(exc, drf.APIException):
        exc = from_drf(exc)
    if not isinstance(exc, GatewayError):
        return None  # a bug: let Django's 500 handler (handler500 below) answer
    return Response(exc.body(), status=exc.status, headers=exc.headers)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: unknown URLs answer JSON, never an HTML page."""
    return error_response(
        GatewayError(404, f"Unknown request URL: {request.method} {request.path}.", code="unknown_url")
    )


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: the last line of defence stays JSON too."""
    return error_response(
        GatewayError(
            500, "The gateway had an internal error; the request id identifies it in the logs.", type="server_error"
        )
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(GatewayError(400, "Bad request.", code="bad_request"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(GatewayError(403, "Permission denied.", code="permission_denied"))
