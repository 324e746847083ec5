"""Per-key requests and tokens per minute: 429 rate_limit_exceeded and the x-ratelimit-* headers."""

from __future__ import annotations

import math
import re
import time

import pytest
import requests
from conftest import error_of, make_key, usage_records
from django_ratelimit.core import _get_window

from gateway.models import ApiKey
from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]
HI_ESTIMATE = 1 + 4 + 3  # gateway/accounting/tokens.py: ceil(2 bytes / 4) + 4 per message + 3 for the primer


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", duration)
    assert match, duration
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def fresh_minute(key: str) -> None:
    """Waits out the end of this key's request window and of the token minute when either is close,
    so a test's requests all fall in one window."""
    key_id = ApiKey.objects.get(key_hash=ApiKey.hash_key(key)).pk
    now = time.time()
    request_left = _get_window(str(key_id), 60) + 1 - now
    token_left = 60 - now % 60
    for left in (request_left, token_left):
        if left < 8:
            time.sleep(left + 0.2)


def chat(url: str, key: str, **body: object) -> requests.Response:
    payload = {"model": "gpt-4", "messages": HI, **body}
    return requests.post(
        f"{url}/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_it_refuses_the_fourth_request_in_a_minute(routes: object, gateway_url: str) -> None:
    key = make_key("rpm", rpm_limit=3)
    fresh_minute(key)
    for remaining in (2, 1, 0):
        answer = chat(gateway_url, key)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-requests"] == "3"
        assert answer.headers["x-ratelimit-remaining-requests"] == str(remaining)
        assert 0 < seconds(answer.headers["x-ratelimit-reset-requests"]) <= 60
        assert "x-ratelimit-limit-tokens" not in answer.headers  # no token limit on this key

    refused = chat(gateway_url, key)
    error = error_of(refused, 429)
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_exceeded"
    assert "requests per min (RPM): Limit 3" in error["message"]
    reset = seconds(refused.headers["x-ratelimit-reset-requests"])
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert 0 < reset <= 60
    # Retry-After is the exact wait rounded up; the reset header shows it to a tenth of a second
    assert max(1, math.ceil(reset - 0.05)) <= int(refused.headers["Retry-After"]) <= max(1, math.ceil(reset + 0.05))
    assert len(routes.requests) == 3  # the refused request never reached the upstream
    records = usage_records(4)
    assert [record.status for record in records] == [200, 200, 200, 429]


def test_it_counts_tokens_per_minute_and_corrects_them_to_real_usage(routes: object, gateway_url: str) -> None:
    key = make_key("tpm", tpm_limit=200)
    fresh_minute(key)
    reserved = HI_ESTIMATE + 60  # the prompt estimate and the requested max_tokens
    spent = 0
    for count in range(1, 20):
        answer = chat(gateway_url, key, max_tokens=60)
        if answer.status_code == 429:
            break
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-tokens"] == "200"
        assert answer.headers["x-ratelimit-remaining-tokens"] == str(200 - spent - reserved)
        assert 0 < seconds(answer.headers["x-ratelimit-reset-tokens"]) <= 60
        spent += answer.json()["usage"]["total_tokens"]
        usage_records(count)  # settled: the reservation is now the real usage
    else:
        raise AssertionError("never refused")

    assert spent + reserved > 200 >= spent  # refused exactly when the reservation no longer fits
    assert count > 2  # without the correction, a third 68-token reservation would not fit
    error = error_of(answer, 429)
    assert error["code"] == "rate_limit_exceeded"
    assert "tokens per min (TPM): Limit 200" in error["message"]
    assert answer.headers["x-ratelimit-remaining-tokens"] == str(200 - spent)
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_it_refuses_a_request_larger_than_the_token_limit(routes: object, gateway_url: str) -> None:
    key = make_key("tpm-small", tpm_limit=50)
    error = error_of(chat(gateway_url, key, max_tokens=100), 429)
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Request too large")
    assert not routes.requests


def test_a_model_limit_is_counted_apart_from_the_key(routes: object, gateway_url: str) -> None:
    key = make_key("per-model", rpm_limit=10, model_limits={"gpt-4": {"rpm": 1}})
    fresh_minute(key)
    first = chat(gateway_url, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "1"  # the binding one of the two
    assert first.headers["x-ratelimit-remaining-requests"] == "0"

    error = error_of(chat(gateway_url, key), 429)
    assert "gpt-4 on this key" in error["message"]

    other = chat(gateway_url, key, model="gpt-3.5-turbo")
    assert other.status_code == 200
    assert other.headers["x-ratelimit-limit-requests"] == "10"
    assert other.headers["x-ratelimit-remaining-requests"] == "7"  # refused requests count, as at OpenAI
    usage_records(3)


def test_streams_are_counted_and_corrected(routes: object, gateway_url: str, openai_client: object) -> None:
    key = make_key("stream", rpm_limit=2, tpm_limit=1000)
    fresh_minute(key)
    reserved = HI_ESTIMATE + 50
    with requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI, "max_tokens": 50, "stream": True,
              "stream_options": {"include_usage": True}},
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    ) as streamed:  # fmt: skip
        assert streamed.status_code == 200
        assert streamed.headers["x-ratelimit-remaining-requests"] == "1"
        assert streamed.headers["x-ratelimit-remaining-tokens"] == str(1000 - reserved)
        lines = [line for line in streamed.iter_lines() if line.startswith(b"data: {")]
    spent = int(re.search(rb'"total_tokens":\s*(\d+)', lines[-1]).group(1))
    usage_records(1)

    second = chat(gateway_url, key, max_tokens=50)
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert second.headers["x-ratelimit-remaining-tokens"] == str(1000 - spent - reserved)
    usage_records(2)
    error = error_of(chat(gateway_url, key, stream=True), 429)
    assert error["code"] == "rate_limit_exceeded"


def test_moderations_and_completions_are_admitted_too(routes: object, gateway_url: str) -> None:
    key = make_key("endpoints", rpm_limit=2)
    fresh_minute(key)
    auth = {"Authorization": f"Bearer {key}"}
    moderated = requests.post(f"{gateway_url}/v1/moderations", json={"input": "hello"}, headers=auth, timeout=30)
    assert moderated.status_code == 200, moderated.text
    assert moderated.headers["x-ratelimit-remaining-requests"] == "1"
    completed = requests.post(
        f"{gateway_url}/v1/completions",
        json={"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"},
        headers=auth,
        timeout=30,
    )
    assert completed.status_code == 200, completed.text
    assert completed.headers["x-ratelimit-remaining-requests"] == "0"
    usage_records(2)
    refused = requests.post(f"{gateway_url}/v1/moderations", json={"input": "hello"}, headers=auth, timeout=30)
    assert error_of(refused, 429)["code"] == "rate_limit_exceeded"


def test_an_error_after_admission_carries_the_headers(routes: WorkersAIEmulator, gateway_url: str) -> None:
    key = make_key("refused-upstream", rpm_limit=5)
    routes.inject_error(400, 5006, "AiError: Bad input: nope")
    answer = chat(gateway_url, key)
    assert error_of(answer, 400)["code"] == "upstream_bad_request"
    assert answer.headers["x-ratelimit-limit-requests"] == "5"


def test_a_prompt_no_route_holds_is_refused_before_admission(routes: object, gateway_url: str) -> None:
    key = make_key("too-long", rpm_limit=5)
    answer = chat(gateway_url, key, messages=[{"role": "user", "content": "x" * 120_000}])
    assert error_of(answer, 400)["code"] == "context_length_exceeded"
    assert "x-ratelimit-limit-requests" not in answer.headers  # routing refused it: nothing was reserved


def test_a_cached_answer_counts_as_a_request_but_spends_no_tokens(routes: object, gateway_url: str) -> None:
    key = make_key("cached", rpm_limit=5, tpm_limit=1000)
    fresh_minute(key)
    reserved = HI_ESTIMATE + 30
    first = chat(gateway_url, key, max_tokens=30, temperature=0)
    spent = first.json()["usage"]["total_tokens"]
    usage_records(1)
    hit = chat(gateway_url, key, max_tokens=30, temperature=0)
    assert hit.headers["x-ratelimit-remaining-requests"] == "3"
    assert usage_records(2)[1].cached
    third = chat(gateway_url, key, max_tokens=30, temperature=0.5)
    assert third.headers["x-ratelimit-remaining-tokens"] == str(1000 - spent - reserved)
    usage_records(3)


def test_the_access_token_and_unlimited_keys_get_no_headers(routes: object, gateway_url: str) -> None:
    answer = chat(gateway_url, make_key("unlimited"))
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.lower().startswith("x-ratelimit")]
    usage_records(1)


def test_revocation_and_expiry_take_effect_at_once(routes: object, gateway_url: str) -> None:
    from django.utils import timezone

    key = make_key("revoked", rpm_limit=100)
    assert chat(gateway_url, key).status_code == 200  # the principal is now cached
    usage_records(1)
    row = ApiKey.objects.get(key_hash=ApiKey.hash_key(key))
    row.revoked_at = timezone.now()
    row.save()
    assert "revoked" in error_of(chat(gateway_url, key), 401)["message"]

    other = make_key("expiring")
    assert chat(gateway_url, other).status_code == 200
    usage_records(2, status=200)
    row = ApiKey.objects.get(key_hash=ApiKey.hash_key(other))
    row.expires_at = timezone.now()
    row.save()
    assert "expired" in error_of(chat(gateway_url, other), 401)["message"]
