"""GET /metrics: the Prometheus text exposition of gateway/metrics.py.

Open when GATEWAY_METRICS_TOKEN is unset (the scraper sits on the private network, as for
/healthz); with it set, the scraper must send it as a bearer token.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gateway import metrics
from gateway.errors import GatewayError, error_response

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
        body = metrics.render()
    except Exception as exc:  # Redis down: say so in the envelope, as /readyz does
        return error_response(
            GatewayError(503, f"Metrics unavailable: {type(exc).__name__}", type="server_error", code="not_ready")
        )
    return HttpResponse(body, content_type=CONTENT_TYPE)
