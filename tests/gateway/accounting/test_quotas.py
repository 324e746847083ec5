"""Per-key budgets: reserved before the upstream call, settled after, 429 insufficient_quota."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from conftest import error_of, make_key, usage_records

from gateway.models import ApiKey, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = [{"role": "user", "content": "x" * 200}]
RESERVED = 50 + 4 + 3 + 20  # the prompt estimate (gateway/accounting/tokens.py) and max_tokens=20


def chat(url: str, key: str, **body: object) -> requests.Response:
    payload = {"model": "gpt-4", "messages": PROMPT, "max_tokens": 20, **body}
    return requests.post(
        f"{url}/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_concurrent_requests_never_overspend_a_token_budget(routes: object, gateway_url: str) -> None:
    key = make_key("budget", quota_tokens=500)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: chat(gateway_url, key), range(20)))

    served = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert served and refused
    for answer in refused:
        error = error_of(answer, 429)
        assert error["code"] == "insufficient_quota" and error["type"] == "insufficient_quota"
    records = usage_records(20)
    assert sum(record.total_tokens for record in records) <= 500
    assert sum(record.total_tokens for record in records if record.status == 200) == sum(
        answer.json()["usage"]["total_tokens"] for answer in served
    )
    assert len(routes.requests) == len(served)  # a refused request never reached the upstream


def test_the_budget_settles_to_real_usage(routes: object, gateway_url: str) -> None:
    key = make_key("settles", quota_tokens=150, quota_period="day")
    first = chat(gateway_url, key)
    assert first.status_code == 200
    spent = first.json()["usage"]["total_tokens"]
    assert spent < RESERVED
    usage_records(1)
    # Only because the first reservation shrank to its real usage does a second one still fit.
    assert spent + RESERVED <= 150 < 2 * RESERVED
    second = chat(gateway_url, key)
    assert second.status_code == 200
    spent += second.json()["usage"]["total_tokens"]
    usage_records(2)

    refused = chat(gateway_url, key)
    error = error_of(refused, 429)
    assert error["code"] == "insufficient_quota"
    assert f"daily budget is 150 tokens and {150 - spent} remain" in error["message"]
    assert f"could use up to {RESERVED}" in error["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["x-should-retry"] == "false"


def test_a_lost_counter_starts_again_from_the_ledger(routes: object, gateway_url: str) -> None:
    key = make_key("ledger", quota_tokens=1000)
    row = ApiKey.objects.get(key_hash=ApiKey.hash_key(key))
    UsageRecord.objects.create(
        api_key=row, endpoint="chat.completions", status=200, total_tokens=990, request_id="req_earlier"
    )
    assert error_of(chat(gateway_url, key), 429)["code"] == "insufficient_quota"


@pytest.mark.parametrize("period", ["day", "month"])
def test_a_lost_counter_counts_rolled_up_days_too(routes: object, gateway_url: str, period: str) -> None:
    from django.utils import timezone

    from gateway.models import UsageRollup

    key = make_key(f"rollup-{period}", quota_tokens=1000, quota_period=period)
    row = ApiKey.objects.get(key_hash=ApiKey.hash_key(key))
    UsageRollup.objects.create(
        day=timezone.now().date(), api_key=row, endpoint="chat.completions", status=200, requests=9, total_tokens=990
    )

    assert error_of(chat(gateway_url, key), 429)["code"] == "insufficient_quota"


def test_a_cost_budget_is_reserved_from_the_price_table(routes: object, gateway_url: str) -> None:
    from gateway.models import Price

    price = Price.objects.get(upstream_model="@cf/meta/llama-3.3-70b-instruct-fp8-fast")
    price.usd_per_m_input = Decimal(1000)
    price.usd_per_m_output = Decimal(1000)
    price.save()
    key = make_key("dollars", quota_usd=Decimal("0.1"))  # at $0.001 a token: 100 tokens
    assert chat(gateway_url, key).status_code == 200  # reserves 77 tokens' worth
    usage_records(1)
    error = error_of(chat(gateway_url, key), 429)  # ~60 spent: another 77 no longer fits
    assert error["code"] == "insufficient_quota"
    assert "budget is $0.1000" in error["message"]


def test_cached_answers_spend_nothing_from_the_budget(routes: object, gateway_url: str) -> None:
    key = make_key("cached-budget", quota_tokens=RESERVED + 70)
    assert chat(gateway_url, key, temperature=0).status_code == 200
    usage_records(1)
    for count in (2, 3, 4):
        assert chat(gateway_url, key, temperature=0).status_code == 200
        assert usage_records(count)[-1].cached


def test_create_api_key_sets_a_budget(transactional_db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_key", "budgeted", "--quota-tokens", "5000", "--quota-period", "day", stdout=out)
    key = ApiKey.objects.get(key_hash=ApiKey.hash_key(out.getvalue().splitlines()[-1]))
    assert (key.quota_tokens, key.quota_period, key.quota_usd) == (5000, "day", None)
