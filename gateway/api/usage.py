"""GET /v1/usage: the calling key's own usage, limits and remaining quota.

`?start=YYYY-MM-DD&end=YYYY-MM-DD` are UTC days, both included; `end` defaults to today and
`start` to `end`. A key sees only its own records; the static ACCESS_TOKEN sees the key-less
records made under it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.auth import KeyPrincipal
from gateway.errors import invalid
from gateway.quotas import current_period
from gateway.usage_report import usage_report

MAX_DAYS = 366  # one query over at most a year of one key's rows


def _day(request: Request, name: str, default: date) -> date:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 (a calendar day, not a time)
    except ValueError:
        raise invalid(f"'{name}' must be a date written YYYY-MM-DD (UTC); got '{value}'.", param=name) from None


def _limits(principal: KeyPrincipal) -> dict[str, Any]:
    per_model = getattr(principal, "model_limits", ())
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
    # Read with defaults: keys cached before the quota fields existed have none of them.
    tokens = getattr(principal, "quota_tokens", None)
    usd = getattr(principal, "quota_usd", None)
    if principal.key_id is None or (tokens is None and usd is None):
        return None
    period = current_period(getattr(principal, "quota_period", "month"))
    today = datetime.now(UTC).date()
    spent = usage_report(principal=principal, start=period.start.date(), end=today, upstream_only=True).totals
    return {
        "period": period.kind,
        "period_start": period.start.date().isoformat(),
        "resets_at": period.end.isoformat().replace("+00:00", "Z"),
        "tokens": None if tokens is None else _budget(tokens, spent.total_tokens),
        "usd": None if usd is None else _budget(Decimal(usd), spent.cost_usd),
    }


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
