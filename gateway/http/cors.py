"""django-cors-headers' middleware, its preflight answer typed as the API's answers are.

A preflight is answered with an empty 200 that Django types text/html; the API never answers HTML
(README "Errors"), so the empty answer carries JSON's type instead. Everything else is the
library's (settings: config/settings.py CORS_*).
"""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware as _CorsMiddleware
from django.http import HttpRequest, HttpResponseBase


class CorsMiddleware(_CorsMiddleware):
    def __call__(self, request: HttpRequest) -> HttpResponseBase:  # type: ignore[override]
        response = super().__call__(request)
        preflight = request.method == "OPTIONS" and "access-control-request-method" in request.headers
        if preflight and not getattr(response, "content", b"x"):
            response["Content-Type"] = "application/json"
        return response
