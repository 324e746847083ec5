"""Request ids on every response, and the body and header size limits enforced before a body is read."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from gateway.errors import body_too_large
from gateway.http.envelope import error_response
from gateway.http.input_limits import check_headers


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Always our own id: it keys the usage ledger, so a client must not be able to choose it.
        request.request_id = f"req_{uuid.uuid4().hex}"
        response = self.get_response(request)
        response["x-request-id"] = request.request_id
        if settings.GATEWAY_UPSTREAM_EMULATED:
            response["x-gateway-upstream"] = "emulated"
        return response


class BodySizeLimitMiddleware:
    """413 from the declared Content-Length, without reading a byte of the body; 431 for headers
    past GATEWAY_MAX_HEADER_BYTES (gateway/http/input_limits.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.GATEWAY_MAX_BODY_BYTES:
            return error_response(body_too_large())
        too_many = check_headers(request.META)
        if too_many is not None:
            return error_response(too_many)
        return self.get_response(request)
