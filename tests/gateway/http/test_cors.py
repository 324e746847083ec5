"""CORS for /v1/ (django-cors-headers): off by default, and when origins are listed a browser's
preflight is answered (and not recorded) and its requests may read the answers."""

from __future__ import annotations

import pytest
import requests
from conftest import usage_records

pytestmark = pytest.mark.django_db(transaction=True)

APP = "https://app.example"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os, x-stainless-retry-count",
}


def chat(gateway_url: str, key: str, origin: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}", "Origin": origin},
        timeout=30,
    )


def test_cors_is_off_unless_origins_are_listed(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    preflight = requests.options(f"{gateway_url}/v1/chat/completions", headers=PREFLIGHT, timeout=10)
    answer = chat(gateway_url, api_key, APP)
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_a_listed_origin_gets_its_preflight_and_reads_the_answers(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_URLS_REGEX = r"^/v1/"
    settings.CORS_ALLOWED_ORIGINS = [APP]

    preflight = requests.options(f"{gateway_url}/v1/chat/completions", headers=PREFLIGHT, timeout=10)
    answer = chat(gateway_url, api_key, APP)
    other = chat(gateway_url, api_key, "https://elsewhere.example")

    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == APP
    allowed = {name.strip() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-stainless-os", "x-stainless-retry-count"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == APP
    exposed = {name.strip() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "x-ratelimit-remaining-requests", "retry-after"} <= exposed
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    # The two chats are recorded (the positive marker); the preflight, no request of a client's, is not.
    assert sorted(record.request_id for record in usage_records(2)) == sorted(
        response.headers["x-request-id"] for response in (answer, other)
    )
    assert (
        requests.options(f"{gateway_url}/admin/", headers={**PREFLIGHT}, timeout=10).headers.get(
            "access-control-allow-origin"
        )
        is None
    )  # the API only
