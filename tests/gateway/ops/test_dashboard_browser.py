"""The usage dashboard in a real headless Chromium: log in through the form, see the charts drawn.

Debian's chromium package is the browser (`make test` installs it when running as root);
Playwright only drives it and never downloads one. A missing browser fails this test on purpose:
CI must not pass without ever having looked at the page.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from seeded_usage import has_cost, seed_usage

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME, PASSWORD = "dash-operator", "a-known-password-9"


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        found = shutil.which("chromium")
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM} (on PATH: {found or 'none'}); install Debian's package: "
            "apt-get install -y --no-install-recommends chromium (make test does so when run as root)",
            pytrace=False,
        )


def test_an_operator_sees_the_usage_charts(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    seed_usage()
    get_user_model().objects.create_superuser(USERNAME, password=PASSWORD)

    # Playwright's sync API keeps an event loop running in the thread that drives it, and Django
    # refuses database work in such a thread; so the browser gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(look_at_the_dashboard, live_server.url, tmp_path / "usage-dashboard.png").result(timeout=90)


def look_at_the_dashboard(base_url: str, screenshot: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            log_in(page, base_url)
            check_the_charts(page)
            page.screenshot(path=str(screenshot), full_page=True)
            check_the_csv_link(page, base_url)
        finally:
            browser.close()


def log_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/admin/login/?next=/admin/usage-dashboard/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/usage-dashboard/")
    page.wait_for_selector("svg.gw-chart")


def check_the_charts(page) -> None:  # type: ignore[no-untyped-def]
    charts = page.locator("svg.gw-chart")
    expected = {"requests", "tokens", "error-rate", "latency", "requests-by-key", "tokens-by-key"}
    expected |= {"requests-by-model", "tokens-by-model"}
    if has_cost():
        expected |= {"cost", "cost-by-key", "cost-by-model"}
    assert charts.count() == len(expected)
    assert {charts.nth(i).get_attribute("data-chart") for i in range(charts.count())} == expected
    for i in range(charts.count()):
        chart = charts.nth(i)
        name = chart.get_attribute("data-chart")
        assert chart.locator("text.gw-chart-title").text_content().strip(), name
        box = chart.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 50, (name, box)
    # Drawn, not just framed: lines and points over time, a bar with a width for each key and model.
    requests_chart = page.locator('svg[data-chart="requests"]')
    assert requests_chart.locator("path.gw-line").count() == 2  # gpt-4 and gpt-4o-mini
    assert requests_chart.locator("circle").count() == 7 * 2
    assert page.locator('svg[data-chart="tokens"] polygon.gw-area').count() == 2
    assert page.locator('svg[data-chart="latency"] circle').count() == 2 * 2  # p50, p95 on 2 busy days
    for name in ("requests-by-key", "requests-by-model"):
        bars = page.locator(f'svg[data-chart="{name}"] rect')
        assert bars.count() == 2
        assert all(float(bars.nth(i).get_attribute("width") or 0) > 1 for i in range(2))
    assert page.locator('[data-tile="requests"]').inner_text() == "5"
    assert "gpt-4o-mini" in page.locator("#by-model").inner_text()


def check_the_csv_link(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    href = page.locator("#csv-download").get_attribute("href")
    assert href and href.startswith("/admin/usage-dashboard/csv/?")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    exported = requests.get(f"{base_url}{href}", cookies=cookies, timeout=10)
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("bucket_start_utc,key_name,key_prefix,model,requests")
    assert len(lines) == 1 + 5
