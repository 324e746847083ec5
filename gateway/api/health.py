"""GET /healthz (the process answers) and GET /readyz (its database, Redis and Celery broker answer)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

from gateway.errors import GatewayError, error_response
from gateway.metrics import BROKER_PROBE_OPTIONS


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
    try:
        _ping_broker()
    except Exception as exc:
        failures.append(f"broker: {type(exc).__name__}")
    if failures:
        return error_response(
            GatewayError(503, "Not ready: " + "; ".join(failures), type="server_error", code="not_ready")
        )
    return JsonResponse({"status": "ready", "database": "ok", "redis": "ok", "broker": "ok"})


def _ping_broker() -> None:
    # The broker is its own setting (often the cache's Redis, not necessarily): image jobs need it.
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2, transport_options=BROKER_PROBE_OPTIONS) as conn:
        conn.default_channel.client.ping()
