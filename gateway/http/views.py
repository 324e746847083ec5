"""The core's own endpoints, outside any family.

- GET /healthz (the process answers) and GET /readyz (its database, Redis and Celery broker answer).
- GET /v1/models and GET /v1/models/{id}.
- GET /v1/usage: the calling key's own usage, limits and remaining quota. `?start=YYYY-MM-DD&
  end=YYYY-MM-DD` are UTC days, both included; `end` defaults to today and `start` to `end`. A key
  sees only its own records; the static ACCESS_TOKEN sees the key-less records made under it.
- GET /metrics: the Prometheus text exposition of gateway/accounting/metrics.py. Open when
  GATEWAY_METRICS_TOKEN is unset (the scraper sits on the private network, as for /healthz); with
  it set, the scraper must send it as a bearer token.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.access.auth import KeyPrincipal
from gateway.accounting import metrics
from gateway.accounting.metrics import BROKER_PROBE_OPTIONS
from gateway.accounting.quotas import current_period
from gateway.accounting.report import usage_report
from gateway.catalog import cooldown
from gateway.catalog.routes import RouteTarget, route_table
from gateway.errors import GatewayError, invalid
from gateway.http import views_openapi
from gateway.http.envelope import error_response


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


def _model_body(name: str, targets: tuple[RouteTarget, ...]) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": min(target.created for target in targets),
        "owned_by": targets[0].provider.name,
    }


@extend_schema_view(get=views_openapi.LIST_MODELS)
class ModelListView(APIView):
    def get(self, request: Request) -> Response:
        principal = request.user
        table = route_table()
        data = [_model_body(name, table.by_name[name]) for name in table.names() if principal.allows(name)]
        return Response({"object": "list", "data": data})


@extend_schema_view(get=views_openapi.RETRIEVE_MODEL)
class ModelDetailView(APIView):
    def get(self, request: Request, model_id: str) -> Response:
        # Path converters see the decoded path, so "@cf%2Fmeta%2F…" arrives as "@cf/meta/…".
        targets = route_table().by_name.get(model_id)
        if not targets or not request.user.allows(model_id):
            raise GatewayError(
                404,
                f"The model '{model_id}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return Response(_model_body(model_id, targets))


MAX_DAYS = 366  # one query over at most a year of one key's rows


# The report runs to the midnight after `end` (gateway/accounting/report.py): the last day of all
# has none, so it is refused as a 400 rather than overflowing into a 500.
LAST_DAY = date.max - timedelta(days=1)


def _day(request: Request, name: str, default: date) -> date:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 (a calendar day, not a time)
    except ValueError:
        raise invalid(f"'{name}' must be a date written YYYY-MM-DD (UTC); got '{value}'.", param=name) from None
    if day > LAST_DAY:
        raise invalid(f"'{name}' must be {LAST_DAY.isoformat()} or earlier; got '{value}'.", param=name)
    return day


def _limits(principal: KeyPrincipal) -> dict[str, Any]:
    per_model = principal.model_limits
    return {
        "rpm": principal.rpm_limit,
        "tpm": principal.tpm_limit,
        "models": {model: {"rpm": rpm, "tpm": tpm} for model, rpm, tpm in per_model},
    }


def _budget(limit: int | Decimal, used: int | Decimal) -> dict[str, Any]:
    remaining = max(limit - used, 0)
    if isinstance(limit, Decimal):
        return {"limit": float(limit), "used": float(used), "remaining": float(remaining)}
    return {"limit": limit, "used": used, "remaining": remaining}


def _quota(principal: KeyPrincipal) -> dict[str, Any] | None:
    tokens, usd = principal.quota_tokens, principal.quota_usd
    if principal.key_id is None or (tokens is None and usd is None):
        return None
    period = current_period(principal.quota_period)
    today = datetime.now(UTC).date()
    spent = usage_report(principal=principal, start=period.start.date(), end=today, upstream_only=True).totals
    return {
        "period": period.kind,
        "period_start": period.start.date().isoformat(),
        "resets_at": period.end.isoformat().replace("+00:00", "Z"),
        "tokens": None if tokens is None else _budget(tokens, spent.total_tokens),
        "usd": None if usd is None else _budget(Decimal(usd), spent.cost_usd),
    }


@extend_schema_view(get=views_openapi.USAGE)
class UsageView(APIView):
    def get(self, request: Request) -> Response:
        principal: KeyPrincipal = request.user
        end = _day(request, "end", datetime.now(UTC).date())
        start = _day(request, "start", end)
        if start > end:
            raise invalid("'start' must not be after 'end'.", param="start")
        if end - start >= timedelta(days=MAX_DAYS):
            raise invalid(f"A usage report covers at most {MAX_DAYS} days; narrow start..end.", param="start")
        report = usage_report(principal=principal, start=start, end=end)
        return Response(
            {
                "object": "usage",
                "key": {"name": principal.name, "prefix": principal.prefix},
                "start": start.isoformat(),
                "end": end.isoformat(),
                "totals": report.totals.as_json(),
                "models": [{"model": model or None, **totals.as_json()} for model, totals in report.by_model.items()],
                "limits": _limits(principal),
                "quota": _quota(principal),
            }
        )


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@csrf_exempt  # reads no cookie and changes nothing: any other method gets the JSON 405, not CSRF's HTML
def metrics_view(request: HttpRequest) -> HttpResponse | JsonResponse:
    if request.method not in {"GET", "HEAD"}:
        return error_response(
            GatewayError(405, f"Method {request.method} is not allowed on /metrics.", code="method_not_allowed")
        )
    token = settings.GATEWAY_METRICS_TOKEN
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            return error_response(
                GatewayError(
                    401,
                    "GET /metrics needs the metrics token: send `Authorization: Bearer <GATEWAY_METRICS_TOKEN>`.",
                    code="invalid_metrics_token",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            )
    try:
        body = metrics.render() + "\n".join(cooldown.metric_lines()) + "\n"
    except Exception as exc:  # Redis down: say so in the envelope, as /readyz does
        return error_response(
            GatewayError(503, f"Metrics unavailable: {type(exc).__name__}", type="server_error", code="not_ready")
        )
    return HttpResponse(body, content_type=CONTENT_TYPE)
