"""GET /v1/usage: a key reads its own usage, limits and remaining quota."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, usage_records

from gateway.access.auth import resolve_key
from gateway.models import ApiKey, UsageRecord, UsageRollup

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]


def usage(gateway_url: str, key: str, **params: str) -> requests.Response:
    return requests.get(f"{gateway_url}/v1/usage", params=params, headers={"Authorization": f"Bearer {key}"})


def chat(gateway_url: str, key: str, model: str = "gpt-4", **fields: Any) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": HI, **fields},
        headers={"Authorization": f"Bearer {key}"},
    )


def record(key: str, request_id: str, when: datetime, **fields: Any) -> UsageRecord:
    principal = resolve_key(key)
    values: dict[str, Any] = {
        "endpoint": "chat.completions",
        "public_model": "gpt-4",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_usd": Decimal("0.001"),
        **fields,
    }
    return UsageRecord.objects.create(
        api_key_id=principal.key_id, key_prefix=principal.prefix, request_id=request_id, created_at=when, **values
    )


def test_it_reports_todays_totals_and_models_for_the_calling_key_only(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    other = make_key("other")
    first = chat(gateway_url, api_key).json()["usage"]
    second = chat(gateway_url, api_key, model="gpt-3.5-turbo").json()["usage"]
    error_of(chat(gateway_url, api_key, model="gpt-17"), 404)
    chat(gateway_url, other)
    usage_records(4, endpoint="chat.completions")

    body = usage(gateway_url, api_key).json()

    today = datetime.now(UTC).date().isoformat()
    assert (body["object"], body["start"], body["end"]) == ("usage", today, today)
    assert body["key"] == {"name": "test", "prefix": resolve_key(api_key).prefix}
    totals = body["totals"]
    assert (totals["requests"], totals["errors"]) == (3, 1)
    assert totals["prompt_tokens"] == first["prompt_tokens"] + second["prompt_tokens"]
    assert totals["total_tokens"] == first["total_tokens"] + second["total_tokens"]
    records = UsageRecord.objects.filter(api_key__name="test")
    assert totals["cost_usd"] == pytest.approx(float(sum(r.cost_usd for r in records)))
    assert totals["cost_usd"] > 0
    by_model = {row["model"]: row for row in body["models"]}
    assert set(by_model) == {"gpt-4", "gpt-3.5-turbo", "gpt-17"}
    assert (by_model["gpt-4"]["requests"], by_model["gpt-4"]["total_tokens"]) == (1, first["total_tokens"])
    assert (by_model["gpt-17"]["errors"], by_model["gpt-17"]["cost_usd"]) == (1, 0)


def test_a_date_range_selects_whole_utc_days(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    day = date(2026, 3, 10)
    midnight = datetime(2026, 3, 10, tzinfo=UTC)
    record(api_key, "req_before", midnight - timedelta(microseconds=1))
    record(api_key, "req_first", midnight)
    record(api_key, "req_last", midnight + timedelta(days=2) - timedelta(microseconds=1), status=429)
    record(api_key, "req_after", midnight + timedelta(days=2))

    body = usage(gateway_url, api_key, start=day.isoformat(), end=(day + timedelta(days=1)).isoformat()).json()

    assert (body["totals"]["requests"], body["totals"]["errors"], body["totals"]["total_tokens"]) == (2, 1, 30)
    assert body["totals"]["cost_usd"] == pytest.approx(0.002)
    assert usage(gateway_url, api_key, start="2026-03-09", end="2026-03-09").json()["totals"]["requests"] == 1


def test_rolled_up_days_are_counted(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.objects.get()
    UsageRollup.objects.create(
        day=date(2026, 1, 5),
        api_key=key,
        key_prefix=key.prefix,
        endpoint="chat.completions",
        public_model="gpt-4",
        status=200,
        requests=7,
        total_tokens=70,
        cost_usd=Decimal("0.5"),
    )
    record(api_key, "req_live", datetime(2026, 1, 6, 12, tzinfo=UTC))

    body = usage(gateway_url, api_key, start="2026-01-01", end="2026-01-31").json()

    assert (body["totals"]["requests"], body["totals"]["total_tokens"]) == (8, 85)
    assert body["models"][0]["cost_usd"] == pytest.approx(0.501)


def test_it_shows_the_keys_limits_and_remaining_quota(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("budget", rpm_limit=60, tpm_limit=1000, quota_tokens=100, quota_usd=Decimal("1"), quota_period="day")
    record(key, "req_spent", datetime.now(UTC), total_tokens=40, cost_usd=Decimal("0.25"))
    record(key, "req_cached", datetime.now(UTC), total_tokens=30, cost_usd=0, cached=True)  # spent nothing

    body = usage(gateway_url, key).json()

    assert body["limits"] == {"rpm": 60, "tpm": 1000, "models": {}}
    quota = body["quota"]
    assert (quota["period"], quota["period_start"]) == ("day", datetime.now(UTC).date().isoformat())
    assert quota["tokens"] == {"limit": 100, "used": 40, "remaining": 60}
    assert quota["usd"] == {"limit": 1.0, "used": 0.25, "remaining": 0.75}


def test_a_key_without_limits_or_quota_says_so(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    body = usage(gateway_url, api_key).json()

    assert body["limits"] == {"rpm": None, "tpm": None, "models": {}}
    assert body["quota"] is None
    assert body["totals"]["requests"] == 0 and body["models"] == []


def test_the_access_token_sees_the_keyless_records_made_under_it(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-access-token-0123456789"
    chat(gateway_url, settings.ACCESS_TOKEN)
    chat(gateway_url, api_key)
    chat(gateway_url, "sk-gw-not-a-key")  # refused for its key: no record at all
    chat(gateway_url, settings.ACCESS_TOKEN)  # the marker that the refused one's record would be in
    usage_records(3, endpoint="chat.completions")

    totals = usage(gateway_url, settings.ACCESS_TOKEN).json()["totals"]

    assert (totals["requests"], totals["errors"]) == (2, 0)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start": "10/03/2026"}, "start"),
        ({"end": "2026-02-30"}, "end"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "start"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "start"),
        ({"end": "9999-12-31"}, "end"),
        ({"start": "9999-12-31", "end": "9999-12-31"}, "end"),
        ({"start": "9999-12-31"}, "start"),
        ({"start": "0001-01-01", "end": "9999-12-30"}, "start"),
    ],
    ids=[
        "not-iso",
        "no-such-day",
        "reversed",
        "over-a-year",
        "end-on-the-last-day",
        "both-on-the-last-day",
        "start-on-the-last-day",
        "the-whole-calendar",
    ],
)
def test_a_bad_range_is_a_400_naming_the_parameter(gateway_url, api_key, routes, params, param) -> None:  # type: ignore[no-untyped-def]
    assert error_of(usage(gateway_url, api_key, **params), 400)["param"] == param


def test_the_last_day_is_refused_naming_the_limit(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(usage(gateway_url, api_key, start="9999-12-30", end="9999-12-31"), 400)

    assert error["param"] == "end"
    assert error["message"] == "'end' must be 9999-12-30 or earlier; got '9999-12-31'."


def test_the_first_and_last_days_that_can_be_reported_are(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    record(api_key, "req_first_day", datetime(1, 1, 1, 12, tzinfo=UTC))
    record(api_key, "req_last_day", datetime(9999, 12, 30, 23, 59, tzinfo=UTC))

    first = usage(gateway_url, api_key, start="0001-01-01", end="0001-01-01")
    last = usage(gateway_url, api_key, start="9999-12-30", end="9999-12-30")

    assert first.status_code == last.status_code == 200, (first.text, last.text)
    assert (first.json()["start"], first.json()["totals"]["requests"]) == ("0001-01-01", 1)
    assert (last.json()["end"], last.json()["totals"]["requests"]) == ("9999-12-30", 1)


def test_it_needs_a_key(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    assert error_of(requests.get(f"{gateway_url}/v1/usage"), 401)["code"] == "missing_api_key"
