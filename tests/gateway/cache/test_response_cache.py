"""The response cache of non-streaming chat completions, seen from the client and the upstream."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from conftest import error_of, make_key, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
HI = [{"role": "user", "content": "hi"}]


def create(client: Any, **overrides: Any) -> Any:
    """A raw SDK answer (headers and the parsed completion) for a chat request on gpt-4."""
    params: dict[str, Any] = {"model": "gpt-4", "messages": HI, "temperature": 0, **overrides}
    return client.with_raw_response.chat.completions.create(**params)


def x_cache(client: Any, **overrides: Any) -> str | None:
    return create(client, **overrides).headers.get("x-cache")


def test_a_deterministic_request_is_answered_from_the_cache_the_second_time(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    first = create(openai_client)
    second = create(openai_client)

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert len(routes.requests) == 1
    miss, hit = first.parse(), second.parse()
    assert hit.choices == miss.choices and hit.choices[0].message.content == "Hello! You said: hi"
    assert hit.usage == miss.usage and hit.model == "gpt-4"
    assert hit.id != miss.id and hit.id.startswith("chatcmpl-")
    assert hit.created >= miss.created


def test_a_hit_is_recorded_as_cached_with_the_tokens_it_saved(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    miss = create(openai_client).parse()
    create(openai_client)

    upstream_call, hit = usage_records(2)
    assert (upstream_call.cached, hit.cached) == (False, True)
    assert (hit.status, hit.upstream_model, hit.provider, hit.public_model) == (200, LLAMA_70B, "workers-ai", "gpt-4")
    assert (hit.prompt_tokens, hit.completion_tokens) == (miss.usage.prompt_tokens, miss.usage.completion_tokens)
    assert hit.total_tokens == miss.usage.total_tokens > 0
    assert hit.request_id != upstream_call.request_id


def test_a_seed_makes_a_sampled_request_cacheable(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    assert [x_cache(openai_client, temperature=0.7, seed=42) for _ in range(2)] == ["miss", "hit"]
    assert len(routes.requests) == 1


@pytest.mark.parametrize("sampling", [{"temperature": 0.7}, {}], ids=["temperature-0.7", "default-temperature"])
def test_a_sampled_request_is_not_cached(openai_client, routes, sampling) -> None:  # type: ignore[no-untyped-def]
    client = openai_client.with_raw_response.chat.completions
    answers = [client.create(model="gpt-4", messages=HI, **sampling) for _ in range(2)]

    assert [answer.headers["x-cache"] for answer in answers] == ["bypass", "bypass"]
    assert len(routes.requests) == 2
    assert [record.cached for record in usage_records(2)] == [False, False]


def test_the_opt_in_header_caches_a_sampled_request(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    opted_in = {"extra_headers": {"X-Gateway-Cache": "use"}}

    assert [x_cache(openai_client, temperature=0.9, **opted_in) for _ in range(2)] == ["miss", "hit"]
    assert x_cache(openai_client, temperature=0.9) == "bypass"  # the same request without the header
    assert len(routes.requests) == 2


def test_an_unknown_opt_in_value_is_refused(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI},
        headers={"Authorization": f"Bearer {api_key}", "X-Gateway-Cache": "yes"},
    )

    assert "X-Gateway-Cache" in error_of(response, 400)["message"]
    assert routes.requests == []


def test_no_store_neither_reads_nor_writes_the_cache(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    create(openai_client)  # an entry exists for this request
    no_store = {"extra_headers": {"Cache-Control": "no-store"}}

    assert [x_cache(openai_client, messages=[{"role": "user", "content": "other"}], **no_store) for _ in range(2)] == [
        "bypass",
        "bypass",
    ]
    assert x_cache(openai_client, **no_store) == "bypass"  # not served although an entry exists
    assert len(routes.requests) == 4
    assert x_cache(openai_client, messages=[{"role": "user", "content": "other"}]) == "miss"  # nothing was stored


def test_no_cache_skips_the_lookup_but_stores_the_fresh_answer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    no_cache = {"extra_headers": {"Cache-Control": "max-age=0, No-Cache"}}

    assert x_cache(openai_client) == "miss"
    assert x_cache(openai_client, **no_cache) == "refresh"
    assert len(routes.requests) == 2  # the entry existed, yet the upstream answered

    assert x_cache(openai_client, messages=[{"role": "user", "content": "new"}], **no_cache) == "refresh"
    assert x_cache(openai_client, messages=[{"role": "user", "content": "new"}]) == "hit"  # stored by no-cache
    assert len(routes.requests) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "hello"}]},
        {"messages": [{"role": "system", "content": "be brief"}, *HI]},
        {"max_tokens": 50},
        {"model": "gpt-3.5-turbo"},
        {"stop": ["zzz"]},
        {"n": 2},
        {"top_p": 0.5},
        {"seed": 1},
    ],
    ids=["content", "system-message", "max_tokens", "model", "stop", "n", "top_p", "seed"],
)
def test_a_different_request_is_a_different_entry(openai_client, routes, change) -> None:  # type: ignore[no-untyped-def]
    assert x_cache(openai_client) == "miss"
    assert x_cache(openai_client, **change) == "miss"
    assert x_cache(openai_client, **change) == "hit"
    assert x_cache(openai_client) == "hit"


def test_a_cached_tool_call_comes_back_with_a_new_call_id(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    ask = [{"role": "user", "content": "[[tool]] weather in Paris?"}]
    first, second = (create(openai_client, messages=ask, tools=[weather]) for _ in range(2))

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    (miss_call,), (hit_call,) = (
        first.parse().choices[0].message.tool_calls,
        second.parse().choices[0].message.tool_calls,
    )
    assert (hit_call.function.name, hit_call.function.arguments) == (
        miss_call.function.name,
        miss_call.function.arguments,
    )
    assert hit_call.id != miss_call.id and hit_call.id.startswith("call_")
    renamed = {"type": "function", "function": {**weather["function"], "name": "get_forecast"}}
    assert x_cache(openai_client, messages=ask, tools=[renamed]) == "miss"  # the tools are part of the key
    assert len(routes.requests) == 2


def test_a_remapped_name_does_not_serve_the_old_models_answer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    assert x_cache(openai_client) == "miss"
    route = ModelRoute.objects.get(public_name="gpt-4")
    route.upstream_model = "@cf/meta/llama-3.1-8b-instruct-fp8"
    route.save()  # as the admin does: the route table is rebuilt

    assert x_cache(openai_client) == "miss"
    assert [request.model for request in routes.requests] == [LLAMA_70B, "@cf/meta/llama-3.1-8b-instruct-fp8"]


def test_an_error_is_not_cached(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    import openai

    routes.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", model=LLAMA_70B, times=2)

    with pytest.raises(openai.RateLimitError):
        create(openai_client)
    assert x_cache(openai_client) == "miss"
    assert x_cache(openai_client) == "hit"
    assert len(routes.requests) == 3  # the failure's attempt and its retry, then one answer
    failed, answered, hit = usage_records(3)
    assert (failed.status, failed.cached, answered.cached, hit.cached) == (429, False, False, True)


def test_a_stream_is_never_cached(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        response = create(openai_client, stream=True)
        assert "x-cache" not in response.headers
        assert "".join(chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices)

    assert len(routes.requests) == 2
    assert x_cache(openai_client) == "miss"  # the streams stored nothing for the same request


def test_keys_of_another_owner_do_not_share_entries(gateway_url, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from openai import OpenAI

    assert x_cache(openai_client) == "miss"
    with OpenAI(base_url=f"{gateway_url}/v1", api_key=make_key("stranger"), max_retries=0) as stranger:
        assert x_cache(stranger) == "miss"
    with OpenAI(base_url=f"{gateway_url}/v1", api_key=make_key("test"), max_retries=0) as colleague:  # same owner
        assert x_cache(colleague) == "hit"
    assert len(routes.requests) == 2


def test_the_route_ttl_is_honoured(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    route = ModelRoute.objects.get(public_name="gpt-4")
    route.cache_ttl_seconds = 1
    route.save()

    assert [x_cache(openai_client) for _ in range(2)] == ["miss", "hit"]
    time.sleep(1.2)
    assert x_cache(openai_client) == "miss"
    assert len(routes.requests) == 2


def test_a_route_ttl_of_zero_turns_the_cache_off_for_that_name(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    route = ModelRoute.objects.get(public_name="gpt-4")
    route.cache_ttl_seconds = 0
    route.save()

    assert [x_cache(openai_client) for _ in range(2)] == [None, None]
    assert x_cache(openai_client, model="gpt-3.5-turbo") == "miss"  # other names keep the default
    assert len(routes.requests) == 3


def test_a_global_ttl_of_zero_turns_the_cache_off(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    settings.GATEWAY_CACHE_TTL_SECONDS = 0
    route = ModelRoute.objects.get(public_name="gpt-4")
    route.cache_ttl_seconds = 600  # off wins over a route's own TTL
    route.save()

    assert [x_cache(openai_client) for _ in range(2)] == [None, None]
    assert len(routes.requests) == 2


class _BrokenRedis:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            import redis

            raise redis.ConnectionError("Redis went away")

        return fail


def test_redis_trouble_does_not_fail_the_request(openai_client, routes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Only the cache's Redis is broken: keys and routes still come from the real one.
    monkeypatch.setattr("gateway.cache.responses.cache", _BrokenRedis())

    answers = [create(openai_client) for _ in range(2)]

    assert [answer.headers["x-cache"] for answer in answers] == ["miss", "miss"]
    assert all(answer.parse().choices[0].message.content == "Hello! You said: hi" for answer in answers)
    assert len(routes.requests) == 2


def test_legacy_completions_are_cached_too(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    first = openai_client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say hi", temperature=0
    )
    second = openai_client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say hi", temperature=0
    )

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert len(routes.requests) == 1
    cold, warm = first.parse(), second.parse()
    assert warm.id.startswith("cmpl-") and warm.id != cold.id
    assert warm.choices[0].text == cold.choices[0].text
    assert [record.cached for record in usage_records(2)] == [False, True]
