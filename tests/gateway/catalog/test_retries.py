"""Retries (gateway/catalog/fallbacks.py): after every route was tried once, more attempts after a
backoff, on the route the upstream allows back soonest, never past its Retry-After, the longest
wait or the budget; never for a refusal of the request itself.
"""

from __future__ import annotations

import time

import openai
import pytest
from conftest import PERSISTENT, error_of, usage_records
from routing_helpers import (
    HI,
    LLAMA_8B,
    LLAMA_70B,
    first_route,
    post,
    second_route,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_route_failing_gives_the_last_error_after_one_retry(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    second_route()
    routes.inject_error(500, 3043, "Internal server error", times=PERSISTENT)

    response = post(gateway_url, api_key, "chat/completions", {"model": "gpt-4", "messages": HI})

    assert error_of(response, 502)["code"] == "upstream_error"
    # Both routes, then one more attempt going round again (GATEWAY_UPSTREAM_RETRIES = 1).
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B, LLAMA_70B]
    (record,) = usage_records(1)
    assert (record.status, record.attempts) == (502, 3)


def test_a_retry_waits_for_the_upstreams_retry_after(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, retry_after=1)
    started = time.monotonic()

    completion = openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert time.monotonic() - started >= 1.0  # the one route again, not before the upstream said
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_70B]
    (record,) = usage_records(1)
    assert record.attempts == 2


def test_a_retry_after_beyond_the_budget_is_the_answer_at_once(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_UPSTREAM_BUDGET_SECONDS = 5
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, retry_after=30)
    started = time.monotonic()

    response = post(gateway_url, api_key, "chat/completions", {"model": "gpt-4", "messages": HI})

    error_of(response, 429)
    assert response.headers["Retry-After"] == "30"
    assert time.monotonic() - started < 5
    assert len(routes.requests) == 1


def test_a_request_error_is_never_retried_nor_cools_the_route(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_COOLDOWN_FAILURES = 1
    second_route()
    routes.inject_error(400, 5006, "AiError: Bad input: nope", model=LLAMA_70B, times=PERSISTENT)

    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert [request.model for request in routes.requests] == [LLAMA_70B]
    from gateway.catalog import cooldown

    assert cooldown.states([first_route().id])[first_route().id].failures == 0


def test_the_retry_goes_to_the_route_the_upstream_allows_back_soonest(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    second = second_route()
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT, retry_after=4)
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_8B, retry_after=1)
    started = time.monotonic()

    completion = openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B, LLAMA_8B]
    assert 1.0 <= time.monotonic() - started < 4.0  # its Retry-After, not the first route's
    (record,) = usage_records(1)
    assert (record.route_id, record.attempts) == (second.id, 3)


def test_a_wait_longer_than_allowed_is_not_made(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_UPSTREAM_MAX_WAIT_SECONDS = 2
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, retry_after=3)
    started = time.monotonic()

    response = post(gateway_url, api_key, "chat/completions", {"model": "gpt-4", "messages": HI})

    error_of(response, 429)
    assert response.headers["Retry-After"] == "3"  # the client waits instead of a server thread
    assert time.monotonic() - started < 2
    assert len(routes.requests) == 1


def test_the_budget_never_stops_the_first_pass_over_the_routes(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_UPSTREAM_BUDGET_SECONDS = 0  # no retry at all, yet every route is tried once
    second = second_route()
    routes.inject_error(503, 3043, "Internal server error", model=LLAMA_70B, times=PERSISTENT)

    openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B]
    assert usage_records(1)[0].route_id == second.id


def test_a_route_that_just_cooled_down_is_not_retried(gateway_url, api_key, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_COOLDOWN_FAILURES = 1
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT)

    response = post(gateway_url, api_key, "chat/completions", {"model": "gpt-4", "messages": HI})

    error_of(response, 429)
    assert len(routes.requests) == 1
    assert usage_records(1)[0].attempts == 1


def test_a_route_whose_credentials_are_refused_hands_over_and_is_not_retried(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    wrong = Provider.objects.create(
        name="wrong-token", base_url=routes.base_url, account_id="test-account", api_token_env="", api_token="nope"
    )
    first = first_route()
    first.provider = wrong
    first.save()
    second = second_route()

    completion = openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B]  # 10000 once, never again
    (record,) = usage_records(1)
    assert (record.route_id, record.attempts, record.provider) == (second.id, 2, "workers-ai")


def test_a_prompt_too_long_for_a_route_once_planned_moves_to_a_larger_one(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.accounting.tokens import estimate_prompt_tokens
    from gateway.providers.base import ChatMessage

    text = "word " * 400
    estimate = estimate_prompt_tokens((ChatMessage(role="user", content=text),))
    first = first_route()
    first.context_window = estimate + 10  # holds the prompt, not the forced call's instruction added to it
    first.save()
    second = second_route()
    second.supports_json_mode = True  # a forced call needs JSON mode (gateway/chat/tool_plan.py)
    second.save()
    tool = {"type": "function", "function": {"name": "pick", "parameters": {"type": "object"}}}

    completion = openai_client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": text}],
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "pick"}},
    )

    assert completion.choices[0].message.tool_calls[0].function.name == "pick"
    assert [request.model for request in routes.requests] == [LLAMA_8B]  # never called: it could not hold it
    (record,) = usage_records(1)
    assert (record.route_id, record.attempts) == (second.id, 1)
