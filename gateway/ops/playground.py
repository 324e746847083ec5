"""The staff playground: a page that calls the public /v1 API from the browser, as clients do.

GET /playground/ is the page (staff only; others are sent to the admin login). POST
/playground/key mints a short-lived key owned by the signed-in user and answers its plaintext once,
in JSON: the page keeps it in JavaScript memory only, never in a cookie or the session. Everything
else the page does goes to /v1 with `Authorization: Bearer <key>`, so it shows what clients get.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from gateway.models import ApiKey

KEY_NAME = "playground"
KEY_LIFETIME = timedelta(hours=1)


def _error(status: int, message: str, code: str) -> JsonResponse:
    """OpenAI's envelope, as the page shows every other error."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return JsonResponse({"error": error}, status=status)


class _JsonCsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, refusing with the JSON envelope rather than the HTML failure page."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return _error(403, f"CSRF verification failed: {reason}", "csrf_failed")


def _no_response(request: HttpRequest) -> HttpResponse:
    """The view the check is told it guards (not exempt); it never calls it."""
    raise AssertionError("unreachable")


_csrf_check = _JsonCsrfCheck(_no_response)


@never_cache
@ensure_csrf_cookie
@staff_member_required
def playground(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Playground",
        "key_minutes": int(KEY_LIFETIME.total_seconds() // 60),
    }
    return TemplateResponse(request, "playground/index.html", context)


@never_cache
@csrf_exempt  # checked below, so a refusal is JSON like every other answer of this URL
def playground_key(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = _error(405, f"Method {request.method} not allowed; POST creates a key.", "method_not_allowed")
        response["Allow"] = "POST"
        return response
    rejected = _csrf_check.process_view(request, _no_response, (), {})
    if rejected is not None:
        return rejected
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return _error(403, "Sign in to the admin as a staff user to create a playground key.", "staff_required")
    key = ApiKey(name=KEY_NAME, owner=user, expires_at=timezone.now() + KEY_LIFETIME)
    plaintext = key.issue()
    key.save()
    return JsonResponse(
        {"key": plaintext, "prefix": key.prefix, "name": key.name, "expires_at": key.expires_at.isoformat()},
        status=201,
    )
