"""The admin's usage dashboard and its CSV export (config/urls.py wraps both in admin_view)."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

from gateway.ops import dashboard_charts as charts
from gateway.ops import number_format
from gateway.ops.dashboard import (
    NO_MODEL,
    OTHER,
    Dashboard,
    Row,
    build_dashboard,
    export_rows,
    model_series,
)
from gateway.ops.dashboard_charts import Series
from gateway.ops.dashboard_filter import DashboardFilter, DashboardForm

CSV_HEADER = [
    "bucket_start_utc",
    "key_name",
    "key_prefix",
    "model",
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
]


WIDE = 2 * charts.WIDTH + 20  # the first chart spans both columns of the page's grid, at the same scale


def _require_usage_permission(request: HttpRequest) -> None:
    # admin_view already demands an active staff user; usage is for those who may view the ledger.
    if not request.user.has_perm("gateway.view_usagerecord"):
        raise PermissionDenied("You may not view usage.")


def usage_dashboard(request: HttpRequest) -> HttpResponse:
    _require_usage_permission(request)
    form = DashboardForm(request.GET)
    context = {
        **admin.site.each_context(request),
        "title": "Usage dashboard",
        "form": form,
    }
    if form.is_valid():
        selection = form.dashboard_filter()
        board = build_dashboard(selection)
        context |= {
            "board": board,
            "time_charts": _time_charts(board),
            "narrow_requests": _requests_chart(board, width=charts.WIDTH, name="requests-narrow"),
            "key_charts": _breakdown_charts(board, board.by_key, "key"),
            "model_charts": _breakdown_charts(board, board.by_model, "model"),
            "query": selection.query_string(),
            "last_day": (selection.end - timedelta(days=1)).date(),
            "ranges": _quick_ranges(selection),
        }
    return TemplateResponse(request, "admin/usage_dashboard.html", context)


def _quick_ranges(selection: DashboardFilter) -> list[tuple[str, str]]:
    """Links to the last 1, 2, 7, 30 and 90 days, keeping the key and model filters."""
    today = datetime.now(UTC).date()
    found = []
    for days in (1, 2, 7, 30, 90):
        moved = replace(selection, start=datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC))
        moved = replace(moved, end=datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC))
        found.append(("today" if days == 1 else f"{days} days", moved.query_string()))
    return found


def _by_model(board: Dashboard, value: str) -> list[Series]:
    """One line per model drawn on its own (NO_MODEL in black, OTHER in grey), coloured alike on every chart."""
    colours = charts.palette([row.label for row in board.by_model if row.label != NO_MODEL] + [OTHER])
    colours[NO_MODEL] = charts.REFUSED_COLOUR
    lines = model_series(board, value)
    if not lines:
        return [Series("all models", [0.0] * len(board.over_time))]
    return [Series(name, line, colours[name]) for name, line in lines.items()]


def _requests_chart(board: Dashboard, *, width: int, name: str) -> SafeString:
    """Requests by model: drawn wide across the page's two columns, and again narrow for one column."""
    hourly = board.filter.bucket == "hour"
    moments = [point.at for point in board.over_time]
    title = f"Requests per {'hour' if hourly else 'day'}, by model"
    series = _by_model(board, "requests")
    return charts.time_chart(name, title, moments, series, charts.count, hourly=hourly, whole=True, width=width)


def _time_charts(board: Dashboard) -> list[SafeString]:
    moments = [point.at for point in board.over_time]
    hourly = board.filter.bucket == "hour"
    per = "hour" if hourly else "day"
    totals = [point.stats for point in board.over_time]

    def by_model(value: str) -> list[Series]:
        return _by_model(board, value)

    def chart(name: str, title: str, series: list[Series], fmt: number_format.Formatter, **options: bool) -> SafeString:
        return charts.time_chart(name, title, moments, series, fmt, hourly=hourly, **options)

    tokens = [
        Series("prompt", [float(stats.prompt_tokens) for stats in totals]),
        Series("completion", [float(stats.completion_tokens) for stats in totals]),
    ]
    found = [
        _requests_chart(board, width=WIDE, name="requests"),
        chart("tokens", f"Tokens per {per} (prompt + completion)", tokens, charts.count, whole=True, stacked=True),
    ]
    if board.cost_known:
        found.append(chart("cost", f"Cost per {per} (USD), by model", by_model("cost_usd"), charts.dollars))
    # A bucket without requests has no error rate and no latency: no point, rather than a false 0.
    error_rate = [
        Series("client errors (4xx)", [s.client_error_rate if s.requests else None for s in totals], "#E69F00"),
        Series(
            "upstream/server errors (5xx)", [s.server_error_rate if s.requests else None for s in totals], "#D55E00"
        ),
    ]
    latency = [Series("p50", [stats.p50_ms for stats in totals]), Series("p95", [stats.p95_ms for stats in totals])]
    found.append(chart("error-rate", f"Error rate per {per}, 4xx and 5xx", error_rate, charts.percent))
    found.append(chart("latency", f"Latency per {per}, p50 and p95", latency, charts.millis))
    return found


def _breakdown_charts(board: Dashboard, rows: list[Row], dimension: str) -> list[SafeString]:
    colours = charts.palette([row.label for row in rows])
    colours[NO_MODEL] = charts.REFUSED_COLOUR

    def chart(metric: str, title: str, values: list[float], fmt: number_format.Formatter) -> SafeString:
        labelled = [(row.label, value) for row, value in zip(rows, values, strict=True)]
        return charts.bar_chart(f"{metric}-by-{dimension}", title, labelled, fmt, colours)

    found = [
        chart("requests", f"Requests by {dimension}", [float(row.stats.requests) for row in rows], charts.count),
        chart("tokens", f"Tokens by {dimension}", [float(row.stats.total_tokens) for row in rows], charts.count),
    ]
    if board.cost_known:
        costs = [float(row.stats.cost_usd or 0) for row in rows]
        found.append(chart("cost", f"Cost by {dimension} (USD)", costs, charts.dollars))
    return found


def usage_csv(request: HttpRequest) -> HttpResponse:
    _require_usage_permission(request)
    form = DashboardForm(request.GET)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain; charset=utf-8")
    selection = form.dashboard_filter()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    first, last = selection.start.date(), selection.end.date() - timedelta(days=1)
    response["Content-Disposition"] = f'attachment; filename="usage-{first}-to-{last}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for row in export_rows(selection):
        stats = row.stats
        writer.writerow(
            [
                row.at.isoformat(),
                _cell(row.key_name),
                _cell(row.key_prefix),
                _cell(row.model),
                stats.requests,
                stats.errors,
                stats.prompt_tokens,
                stats.completion_tokens,
                stats.total_tokens,
                _money(stats.cost_usd),
                _number(stats.p50_ms),
                _number(stats.p95_ms),
            ]
        )
    return response


def _cell(text: str) -> str:
    # A model name is whatever a client sent; a leading = + - @ would run as a spreadsheet formula.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _money(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
