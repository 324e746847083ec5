"""The OpenAI error envelope on the wire: the DRF exception handler and Django's error handlers.

Every non-success answer is `{"error": {"message", "type", "param", "code"}}` JSON, never an HTML
page (https://platform.openai.com/docs/guides/error-codes).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import psycopg
import redis.exceptions
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, JsonResponse
from psycopg_pool import PoolTimeout
from rest_framework import exceptions as drf
from rest_framework.response import Response

from gateway.errors import GatewayError, body_too_large, from_provider_error, invalid
from gateway.providers.base import ProviderError

log = logging.getLogger(__name__)

# What a client is told to wait when a backing service is out of reach: a Redis restart or
# failover, or a database pool without a free connection, is typically over within seconds, and
# the OpenAI SDKs honour Retry-After when they retry a 503 (README "Errors").
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def unavailable(exc: BaseException | None) -> GatewayError | None:
    """The 503 for an error saying a backing service is out of reach, else None.

    Redis refused, or slower than its socket timeouts (config/settings.py CACHES); the database pool
    had no connection free within its timeout, or the database was gone (shut down, restarting: its
    connection refused or closed; a statement it cancelled is not that). Followed through
    `raise … from`, because Django wraps database errors that way (DatabaseErrorWrapper) and callers
    may wrap cache errors.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _REDIS_DOWN):
            return service_unavailable("The gateway cannot reach its cache right now; retry in a few seconds.")
        if isinstance(exc, PoolTimeout):
            return service_unavailable("The gateway's database is busy right now; retry in a few seconds.")
        if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, psycopg.errors.QueryCanceled):
            return service_unavailable("The gateway cannot reach its database right now; retry in a few seconds.")
        exc = exc.__cause__
    return None


def service_unavailable(message: str) -> GatewayError:
    return GatewayError(
        503,
        message,
        type="server_error",
        code="service_unavailable",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
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
    down = unavailable(exc)
    if down is not None:
        log.warning("answered 503 service_unavailable: %s: %s", type(exc).__name__, exc)
        exc = down
    elif isinstance(exc, ProviderError):
        exc = from_provider_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
    elif isinstance(exc, TooManyFieldsSent):
        exc = invalid(
            f"The multipart body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields "
            "(GATEWAY_MAX_MULTIPART_FIELDS).",
            code="too_many_fields",
        )
    elif isinstance(exc, TooManyFilesSent):
        exc = invalid(
            f"The multipart body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files "
            "(GATEWAY_MAX_MULTIPART_FILES).",
            code="too_many_files",
        )
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
    """handler500: the last line of defence stays JSON too.

    Django calls it for any exception no view handled, middleware included, while that exception
    is being handled (django/core/handlers/exception.py), so sys.exc_info() names it: an
    unreachable Redis or a busy database pool answers 503 here as it does in a DRF view.
    """
    down = unavailable(sys.exc_info()[1])
    if down is not None:
        return error_response(down)
    return error_response(
        GatewayError(
            500, "The gateway had an internal error; the request id identifies it in the logs.", type="server_error"
        )
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(GatewayError(400, "Bad request.", code="bad_request"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(GatewayError(403, "Permission denied.", code="permission_denied"))
