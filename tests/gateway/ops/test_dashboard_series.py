"""The usage dashboard's series and numbers: requests refused before routing drawn apart, the error
rate split into 4xx and 5xx, tiny costs kept to their significant digits, distinct axis ticks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from seeded_usage import has_cost, record, seed_usage
from test_dashboard import URL, Tables

pytestmark = pytest.mark.django_db(transaction=True)


def chart_svg(html: str, name: str) -> str:
    return html.split(f'data-chart="{name}"', 1)[1].split("</svg>", 1)[0]


def legend(svg: str) -> list[str]:
    return re.findall(r'<g class="gw-legend"><title>([^<]*)</title>', svg)


def test_requests_refused_before_routing_are_a_series_of_their_own(operator: Client) -> None:
    seeded = seed_usage()
    day1 = seeded.today - timedelta(days=1)
    record(None, "", 401, day1)  # no key: refused before a model was read
    record(seeded.alpha, "", 404, day1)  # an unknown URL
    for n in range(7):  # more models than the chart draws on their own
        record(seeded.beta, f"model-{n}", 200, day1)

    html = operator.get(URL).content.decode()

    refused = "no model: refused before routing"
    assert "(none)" not in html
    by_model = Tables(html).tables["by-model"]
    assert by_model[refused][:5] == ["2", "2", "100.0%", "0", "0.0%"]
    lines = legend(chart_svg(html, "requests"))
    assert refused in lines and "other" in lines and len(lines) == 6 + 2  # six models, refused, other
    assert lines.index(refused) == len(lines) - 2  # after the models, never folded into "other"
    assert refused in chart_svg(html, "requests-by-model")
    if has_cost():
        assert refused in legend(chart_svg(html, "cost"))


def test_the_error_rate_is_split_into_client_and_upstream_errors(operator: Client) -> None:
    seed_usage()  # one 429 and one 500 among five requests

    html = operator.get(URL).content.decode()

    error_rate = chart_svg(html, "error-rate")
    assert legend(error_rate) == ["client errors (4xx)", "upstream/server errors (5xx)"]
    assert error_rate.count('class="gw-line"') == 2
    assert 'data-tile="error-rate">40.0%<' in html
    assert "20.0% client (4xx) · 20.0% upstream/server (5xx)" in html
    header = html.split('<table id="by-model">', 1)[1].split("</thead>", 1)[0]
    assert "Client errors (4xx)" in header and "Upstream/server errors (5xx)" in header


@pytest.mark.skipif(not has_cost(), reason="costs are not recorded before the cost_usd column")
def test_tiny_costs_keep_their_significant_digits(operator: Client) -> None:
    seeded = seed_usage()
    record(seeded.alpha, "tiny", 200, seeded.today - timedelta(days=1), cost="0.0000123456")
    record(seeded.alpha, "free", 200, seeded.today - timedelta(days=1), cost="0")

    html = operator.get(URL).content.decode()

    by_model = Tables(html).tables["by-model"]
    assert by_model["tiny"][8] == "$0.0000123"
    assert by_model["free"][8] == "$0"
    assert 'data-tile="cost">$0.00451<' in html  # 0.0035 + 0.0010 + 0.0000123


def test_no_two_ticks_of_an_axis_read_the_same(operator: Client) -> None:
    seeded = seed_usage()
    for n in range(5):  # about $0.0001 a request: the cost axis once read "$0.0001" three times
        record(seeded.beta, "gpt-4o-mini", 200, seeded.today - timedelta(days=2), cost="0.0001", latency=n)

    html = operator.get(URL).content.decode()

    charts = re.findall(r'<svg class="gw-chart" data-chart="([^"]+)".*?</svg>', html, re.S)
    assert "latency" in charts
    for name in charts:
        ticks = re.findall(r'<text class="gw-ytick"[^>]*>([^<]*)</text>', chart_svg(html, name))
        assert len(ticks) == len(set(ticks)), (name, ticks)
    assert re.search(r'class="gw-ytick"[^>]*>\$0\.00\d+<', chart_svg(html, "cost")) or not has_cost()
