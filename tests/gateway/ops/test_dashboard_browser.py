"""The usage dashboard in a real headless Chromium: log in through the form, see the charts drawn.

Debian's chromium package is the browser (`make test` installs it when running as root);
Playwright only drives it and never downloads one. A missing browser fails this test on purpose:
CI must not pass without ever having looked at the page.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from django.contrib.auth import get_user_model
from seeded_usage import has_cost, record, seed_usage

pytestmark = pytest.mark.django_db(transaction=True)

USERNAME, PASSWORD = "dash-operator", "a-known-password-9"
WIDTHS = (1400, 800)
REFUSED = "no model: refused before routing"


def test_an_operator_sees_the_usage_charts(live_server) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    seeded = seed_usage()
    record(seeded.alpha, "", 404, seeded.today - timedelta(days=1))  # an unknown URL: refused before routing
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Playwright's sync API keeps an event loop running in the thread that drives it, and Django
    # refuses database work in such a thread; so the browser gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        shots = pool.submit(look_at_the_dashboard, live_server.url, ARTIFACTS).result(timeout=120)
    for shot in shots:
        print(f"dashboard screenshot: {shot}")
        assert shot.stat().st_size > 10_000


def look_at_the_dashboard(base_url: str, folder: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS[0], "height": 1000})
            log_in(page, base_url)
            check_the_charts(page)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1000})
                check_the_layout(page, width)
                shots.append(folder / f"usage-dashboard-{width}.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
            check_the_csv_link(page, base_url)
        finally:
            browser.close()
    return shots


def log_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/admin/login/?next=/admin/usage-dashboard/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/usage-dashboard/")
    page.wait_for_selector("svg.gw-chart")


def check_the_charts(page) -> None:  # type: ignore[no-untyped-def]
    charts = page.locator("svg.gw-chart")
    expected = {"requests", "requests-narrow", "tokens", "error-rate", "latency", "requests-by-key", "tokens-by-key"}
    expected |= {"requests-by-model", "tokens-by-model"}
    if has_cost():
        expected |= {"cost", "cost-by-key", "cost-by-model"}
    assert charts.count() == len(expected)
    assert {charts.nth(i).get_attribute("data-chart") for i in range(charts.count())} == expected
    # At this width the requests chart is drawn wide, across both columns; its narrow twin is hidden.
    assert not page.locator('svg[data-chart="requests-narrow"]').is_visible()
    for i in range(charts.count()):
        chart = charts.nth(i)
        name = chart.get_attribute("data-chart")
        assert chart.locator("text.gw-chart-title").text_content().strip(), name
        if name == "requests-narrow":
            continue
        box = chart.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 50, (name, box)
    # Drawn, not just framed: lines and points over time, a bar with a width for each key and model.
    requests_chart = page.locator('svg[data-chart="requests"]')
    assert requests_chart.locator("path.gw-line").count() == 3  # gpt-4, gpt-4o-mini and the refused request
    assert requests_chart.locator("circle").count() == 7 * 3
    assert REFUSED in requests_chart.locator("g.gw-legend text").all_text_contents()
    errors = page.locator('svg[data-chart="error-rate"] g.gw-legend text').all_text_contents()
    assert errors == ["client errors (4xx)", "upstream/server errors (5xx)"]
    assert page.locator('svg[data-chart="tokens"] polygon.gw-area').count() == 2
    assert page.locator('svg[data-chart="latency"] circle').count() == 2 * 2  # p50, p95 on 2 busy days
    for name, count in (("requests-by-key", 2), ("requests-by-model", 3)):
        bars = page.locator(f'svg[data-chart="{name}"] rect')
        assert bars.count() == count
        assert all(float(bars.nth(i).get_attribute("width") or 0) > 1 for i in range(count))
    assert page.locator('[data-tile="requests"]').inner_text() == "6"
    assert "gpt-4o-mini" in page.locator("#by-model").inner_text()
    assert REFUSED in page.locator("#by-model").inner_text()


def check_the_layout(page, width: int) -> None:  # type: ignore[no-untyped-def]
    """Nothing wider than the window; every chart inside it; each axis's tick labels distinct."""
    page.wait_for_function(f"window.innerWidth === {width}")
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, (width, scroll_width, inner_width)
    charts = page.locator("svg.gw-chart")
    wide, narrow = page.locator('svg[data-chart="requests"]'), page.locator('svg[data-chart="requests-narrow"]')
    assert wide.is_visible() != narrow.is_visible(), width  # one drawing of the requests chart at a time
    for i in range(charts.count()):
        chart = charts.nth(i)
        name = chart.get_attribute("data-chart")
        if not chart.is_visible():
            continue
        box = chart.bounding_box()
        # Every visible chart is at least as large as a one-column chart at 800 px.
        assert box and box["width"] > 300, (width, name, box)
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= inner_width + 0.5, (width, name, box)
        ticks = [text.strip() for text in chart.locator("text.gw-ytick").all_text_contents()]
        assert len(ticks) == len(set(ticks)), (width, name, ticks)
        if name in ("requests", "requests-narrow", "tokens", "error-rate", "latency", "cost"):
            assert len(ticks) >= 2, (width, name, ticks)
    for table in ("#by-key", "#by-model"):
        # A table wider than the page scrolls inside its own box.
        box = page.locator(table).locator("xpath=..").bounding_box()
        assert box and box["x"] + box["width"] <= inner_width + 0.5, (width, table, box)


def check_the_csv_link(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    href = page.locator("#csv-download").get_attribute("href")
    assert href and href.startswith("/admin/usage-dashboard/csv/?")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    exported = requests.get(f"{base_url}{href}", cookies=cookies, timeout=10)
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("bucket_start_utc,key_name,key_prefix,model,requests")
    assert len(lines) == 1 + 6
