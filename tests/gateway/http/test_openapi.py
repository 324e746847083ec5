"""/openapi.json and /docs/: public, a valid OpenAPI 3.1 document of every /v1 operation, and a docs
page that renders in headless Chromium from the gateway's own files (no CDN, no key).

tests/gateway/http/test_openapi_fuzz.py holds the gateway to this document with schemathesis.
"""

from __future__ import annotations

import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db(transaction=True)

METHODS = {"get", "post", "put", "patch", "delete"}


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_public_valid_openapi_3_1_and_what_the_gateway_builds(live_server) -> None:  # type: ignore[no-untyped-def]
    from gateway.http.openapi import SchemaView, build_document

    response = requests.get(f"{live_server.url}/openapi.json", timeout=30)  # no key
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")  # OpenAPI's JSON type
    document = response.json()
    validate(document)  # raises on anything that is not a valid OpenAPI 3.1 document
    assert document["openapi"] == "3.1.0"
    assert document == build_document(SchemaView.generator_class)


def test_the_schema_builds_without_a_warning_so_every_view_is_described(tmp_path: Path) -> None:
    # drf-spectacular warns for a view it cannot describe (no schema given) or an unknown
    # authentication class; --fail-on-warn turns each warning into a failure.
    out = tmp_path / "openapi.json"
    stderr = io.StringIO()
    call_command(
        "spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json", "--file", str(out), stderr=stderr
    )
    assert out.stat().st_size > 10_000, stderr.getvalue()


def test_every_v1_route_and_method_is_an_operation_with_its_own_id_and_errors() -> None:
    from django.urls import get_resolver

    from gateway.http.openapi import SchemaView, build_document

    document = build_document(SchemaView.generator_class)
    described = operations(document)
    # Every method of every /v1 view the URLconf routes to is in the document.
    routed = 0
    for pattern in get_resolver().url_patterns:
        view = getattr(pattern.callback, "view_class", None)
        if view is not None and str(pattern.pattern).lstrip("^").startswith("v1/"):
            routed += len([method for method in METHODS if hasattr(view, method)])
    assert len(described) == routed >= 40
    ids = Counter(operation["operationId"] for _, _, operation in described)
    assert [name for name, count in ids.items() if count > 1] == []
    for path, method, operation in described:
        label = f"{method.upper()} {path}"
        assert operation.get("summary"), label
        assert not path.endswith("/"), label
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), label
        for status in ("400", "401", "429", "503"):
            error = responses[status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, label
        if "requestBody" in operation:
            assert operation["requestBody"]["required"] is True, label


def test_the_docs_page_is_public_and_loads_nothing_from_elsewhere(live_server) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{live_server.url}/docs/", timeout=30)  # no key
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in response.text
    assert "/openapi.json" in response.text
    assert "cdn." not in response.text and "unpkg" not in response.text


def test_the_docs_page_renders_every_operation_in_chromium(live_server) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    from gateway.http.openapi import SchemaView, build_document

    expected = len(operations(build_document(SchemaView.generator_class)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API runs an event loop in its thread; Django's database work must not share it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        shown, elsewhere, shot = pool.submit(look_at_the_docs, live_server.url, ARTIFACTS).result(timeout=120)
    assert elsewhere == [], f"the docs page asked other hosts: {elsewhere}"
    assert shown == expected
    assert shot.stat().st_size > 20_000


def look_at_the_docs(base_url: str, folder: Path) -> tuple[int, list[str], Path]:
    from playwright.sync_api import sync_playwright

    own = urlsplit(base_url).netloc
    elsewhere: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "request",
                lambda request: (
                    None
                    if urlsplit(request.url).netloc in {own, ""} or request.url.startswith("data:")
                    else elsewhere.append(request.url)
                ),
            )
            page.goto(f"{base_url}/docs/")
            # Swagger UI draws one block per operation once it has fetched and parsed the document.
            page.wait_for_selector(".opblock", timeout=30_000)
            page.wait_for_function("document.querySelectorAll('.opblock').length > 40", timeout=30_000)
            assert "AI Gateway" in page.locator(".info .title").inner_text()
            shown = page.locator(".opblock").count()
            shot = folder / "openapi-docs-1400.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return shown, elsewhere, shot
