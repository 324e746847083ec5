"""Failed authentications are throttled per client address and cost no ledger row; the admin's
sign-in is throttled per address too (gateway/access/failures.py, gateway/ops/login_throttle.py)."""

from __future__ import annotations

import time

import pytest
import requests
from conftest import error_of, usage_records
from django.core.cache import cache
from django.test import Client
from django_ratelimit.core import _get_window

from gateway.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 3


def fresh_window(*addresses: str) -> None:
    """django-ratelimit's minute windows end at a different second for each address: wait out an
    end that is close, so a test's requests all fall in one window."""
    for address in addresses:
        left = _get_window(address, 60) + 1 - time.time()
        if left < 8:
            time.sleep(left + 0.2)


@pytest.fixture
def limited(settings):  # type: ignore[no-untyped-def]
    settings.GATEWAY_AUTH_FAILURES_PER_MINUTE = LIMIT
    settings.GATEWAY_ADMIN_LOGINS_PER_MINUTE = LIMIT
    cache.clear()  # no count left over from another test of this run
    fresh_window("127.0.0.1", "203.0.113.9", "203.0.113.10")
    yield settings


def chat(gateway_url: str, key: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def test_past_the_limit_failures_answer_429_but_a_valid_key_is_served(limited, gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(LIMIT):
        assert error_of(chat(gateway_url, "sk-gw-wrong"), 401)["code"] == "invalid_api_key"

    throttled = chat(gateway_url, "sk-gw-wrong")
    error = error_of(throttled, 429)
    assert error["code"] == "too_many_auth_failures" and f"{LIMIT} a minute" in error["message"]
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert error_of(requests.get(f"{gateway_url}/v1/models"), 429)["code"] == "too_many_auth_failures"  # no key

    assert chat(gateway_url, api_key).status_code == 200  # the same address, a good key
    (record,) = usage_records(1)  # the served request's; the refused ones left none
    assert record.status == 200
    assert routes.requests and len(routes.requests) == 1


def test_the_address_is_the_proxys_header_when_configured(limited, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    limited.GATEWAY_CLIENT_IP_HEADER = "X-Forwarded-For"
    for _ in range(LIMIT):
        error_of(chat(gateway_url, "sk-gw-wrong", **{"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}), 401)
    error_of(chat(gateway_url, "sk-gw-wrong", **{"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}), 429)  # the right-most
    error_of(chat(gateway_url, "sk-gw-wrong", **{"X-Forwarded-For": "203.0.113.10"}), 401)  # another client
    error_of(chat(gateway_url, "sk-gw-wrong", **{"X-Forwarded-For": "not an address"}), 401)  # REMOTE_ADDR's count


def refused_chats(gateway_url: str) -> float:
    """gateway_requests_total of chat requests answered 401, whatever their model label."""
    lines = requests.get(f"{gateway_url}/metrics", timeout=10).text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("gateway_requests_total{")
        and 'endpoint="chat.completions"' in line
        and 'status="401"' in line
    )


def test_a_refused_key_costs_no_ledger_row_but_is_counted(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    before = refused_chats(gateway_url)
    for _ in range(3):
        error_of(chat(gateway_url, "sk-gw-wrong"), 401)
    error_of(requests.get(f"{gateway_url}/v1/models"), 401)
    assert chat(gateway_url, api_key).status_code == 200  # a positive marker: this one is recorded

    usage_records(1)
    assert list(UsageRecord.objects.values_list("status", flat=True)) == [200]
    deadline = time.monotonic() + 10
    while refused_chats(gateway_url) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # counted as each refusal settles, after its answer
    assert refused_chats(gateway_url) == before + 3


def test_the_admin_sign_in_is_throttled_per_address(limited, operator) -> None:  # type: ignore[no-untyped-def]
    visitor = Client()
    for _ in range(LIMIT):
        answer = visitor.post("/admin/login/", {"username": "operator", "password": "wrong"})
        assert answer.status_code == 200  # the form again, with its error
    refused = visitor.post("/admin/login/", {"username": "operator", "password": "not-used-here"})
    assert refused.status_code == 429 and b"Too many sign-in attempts" in refused.content
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert visitor.get("/admin/login/").status_code == 200  # the page itself stays readable
