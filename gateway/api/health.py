"""GET /healthz (the process answers) and GET /readyz (its database and Redis answer)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

from gateway.errors import GatewayError, error_response


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "upstream": "emulated" if settings.GATEWAY_UPSTREAM_EMULATED else "live"})


def readyz(request: HttpRequest) -> JsonResponse:
    failures = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        failures.append(f"database: {type(exc).__name__}")
    try:
        cache.get("readyz")
    except Exception as exc:
        failures.append(f"redis: {type(exc).__name__}")
    if failures:
        return error_response(
            GatewayError(503, "Not ready: " + "; ".join(failures), type="server_error", code="not_ready")
        )
    return JsonResponse({"status": "ready", "database": "ok", "redis": "ok"})
