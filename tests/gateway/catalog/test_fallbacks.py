"""Fallbacks, retries and cooldowns (gateway/catalog/fallbacks.py, cooldown.py), as clients see them.

Two routes behind one name, the first failing — with Workers AI's 3040 or not reachable at all —
and the official SDK gets its answer from the second, streamed or not; the usage record names the
route that answered and the attempts made; a route failing repeatedly cools down, in Redis, where
/metrics and the admin read it.
"""

from __future__ import annotations

import json
import socket
import time

import openai
import pytest
import requests
from conftest import PERSISTENT, error_of, usage_records
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db(transaction=True)

LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"
HI = [{"role": "user", "content": "hi"}]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def second_route(upstream_model: str = LLAMA_8B, public_name: str = "gpt-4", task: str = "chat"):  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    return ModelRoute.objects.create(
        public_name=public_name,
        task=task,
        upstream_model=upstream_model,
        provider=Provider.objects.get(name="workers-ai"),
        context_window=32_000,
        priority=5,
    )


def first_route(public_name: str = "gpt-4"):  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    return ModelRoute.objects.filter(public_name=public_name, task="chat").order_by("priority", "id").first()


def unreachable_first_route() -> object:
    """gpt-4's first route moved to a provider nobody listens on."""
    from gateway.models import Provider

    dead = Provider.objects.create(
        name="unreachable",
        base_url=f"http://127.0.0.1:{closed_port()}/client/v4",
        account_id="x",
        api_token_env="",
        api_token="x",
        connect_timeout=1,
    )
    route = first_route()
    route.provider = dead
    route.save()
    return route


def scrape(gateway_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{gateway_url}/metrics", timeout=10)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def cooldown_seconds(samples: dict, route_id: int) -> float:
    for (name, labels), value in samples.items():
        if name == "gateway_route_cooldown_seconds" and dict(labels)["route_id"] == str(route_id):
            return value
    raise AssertionError(f"no cooldown sample for route {route_id}")


# --- two routes, the first failing ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_capacity_refusal_falls_back_to_the_second_route(openai_client, routes, stream) -> None:  # type: ignore[no-untyped-def]
    second = second_route()
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT)

    if stream:
        chunks = list(openai_client.chat.completions.create(model="gpt-4", messages=HI, stream=True))
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert chunks[-1].choices[0].finish_reason == "stop"
    else:
        text = openai_client.chat.completions.create(model="gpt-4", messages=HI).choices[0].message.content

    assert text == "Hello! You said: hi"
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B]
    (record,) = usage_records(1)
    assert (record.status, record.route_id, record.attempts) == (200, second.id, 2)
    assert (record.upstream_model, record.provider, record.streamed) == (LLAMA_8B, "workers-ai", stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_unreachable_first_route_falls_back(openai_client, routes, stream) -> None:  # type: ignore[no-untyped-def]
    unreachable_first_route()
    second = second_route()

    answer = openai_client.chat.completions.create(model="gpt-4", messages=HI, stream=stream)
    if stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in answer if chunk.choices)
    else:
        text = answer.choices[0].message.content

    assert text == "Hello! You said: hi"
    (record,) = usage_records(1)
    assert (record.route_id, record.attempts, record.provider) == (second.id, 2, "workers-ai")


def test_every_route_failing_gives_the_last_error_after_one_retry(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    second_route()
    routes.inject_error(500, 3043, "Internal server error", times=PERSISTENT)

    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

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

    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

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


def test_a_stream_failing_after_its_first_byte_ends_with_an_error_event(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    second_route()
    Provider.objects.filter(name="workers-ai").update(read_timeout=1)
    from gateway.catalog import routes as route_snapshot

    route_snapshot.invalidate()

    response = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi [[slow]]"}], "stream": True},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    assert response.status_code == 200
    blocks = [block for block in response.text.split("\n\n") if block.startswith("data: {")]
    assert json.loads(blocks[0][len("data: ") :])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(blocks[-1][len("data: ") :])["error"]["code"] == "upstream_timeout"
    assert "[DONE]" not in response.text
    assert [request.model for request in routes.requests] == [LLAMA_70B]  # never retried mid-way
    (record,) = usage_records(1)
    assert (record.status, record.attempts) == (504, 1)


# --- cooldown ------------------------------------------------------------------------------------


def test_a_failing_route_cools_down_and_shows_it(openai_client, gateway_url, operator, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_COOLDOWN_FAILURES = 2
    first, second = first_route(), second_route()
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT)

    for _ in range(2):  # each tries the first route, fails over to the second
        openai_client.chat.completions.create(model="gpt-4", messages=HI)
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_8B] * 2

    openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert [request.model for request in routes.requests][4:] == [LLAMA_8B]  # the first is skipped
    records = usage_records(3)
    assert [(r.route_id, r.attempts) for r in records] == [(second.id, 2), (second.id, 2), (second.id, 1)]
    samples = scrape(gateway_url)
    assert 0 < cooldown_seconds(samples, first.id) <= settings.GATEWAY_COOLDOWN_SECONDS
    assert cooldown_seconds(samples, second.id) == 0
    failures = samples[
        (
            "gateway_upstream_failures_total",
            (("kind", "rate_limited"), ("provider", "workers-ai"), ("upstream_model", LLAMA_70B)),
        )
    ]
    assert failures >= 2
    page = operator.get("/admin/gateway/modelroute/?public_name=gpt-4").content.decode()
    assert "cooling down" in page


def test_when_every_route_is_cooling_they_are_still_tried(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_COOLDOWN_FAILURES = 1
    second = second_route()
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", times=2)  # one failure each
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT)
    with pytest.raises(openai.RateLimitError):  # 70B, 8B, then 70B again: all refused
        openai_client.chat.completions.create(model="gpt-4", messages=HI)

    from gateway.catalog import cooldown

    assert set(cooldown.cooling_until([first_route().id, second.id])) == {first_route().id, second.id}
    completion = openai_client.chat.completions.create(model="gpt-4", messages=HI)
    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert usage_records(2)[-1].route_id == second.id


def test_the_cooldown_ends_after_its_time(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_COOLDOWN_FAILURES = 1
    settings.GATEWAY_COOLDOWN_SECONDS = 1
    first = first_route()
    second_route()
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B)
    openai_client.chat.completions.create(model="gpt-4", messages=HI)  # cools the first down

    from gateway.catalog import cooldown

    assert first.id in cooldown.cooling_until([first.id])
    deadline = time.monotonic() + 5
    while first.id in cooldown.cooling_until([first.id]):
        assert time.monotonic() < deadline, "the cooldown never ended"
        time.sleep(0.05)
    openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert routes.requests[-1].model == LLAMA_70B  # warm again: first in line


# --- work of a failed attempt stays in the ledger ------------------------------------------------


def test_choices_answered_before_a_failure_are_recorded(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    second_route()
    # n=2 on the first route: its first choice is answered, its second refused; the second route
    # then answers both. The first route's answered choice was work done, and is in the record.
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", model=LLAMA_70B, times=PERSISTENT, after=1)

    completion = openai_client.chat.completions.create(model="gpt-4", messages=HI, n=2)

    assert [choice.message.content for choice in completion.choices] == ["Hello! You said: hi"] * 2
    assert [request.model for request in routes.requests] == [LLAMA_70B, LLAMA_70B, LLAMA_8B, LLAMA_8B]
    answered = completion.usage
    (record,) = usage_records(1)
    assert record.attempts == 2
    # The failed attempt's one answer: its prompt and its completion (the emulator's counts).
    assert record.prompt_tokens == answered.prompt_tokens * 2
    assert record.completion_tokens == answered.completion_tokens * 3 // 2


def test_prompts_completed_before_a_failure_are_recorded(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    qwen = "@cf/qwen/qwen2.5-coder-32b-instruct"
    second_route(public_name="gpt-3.5-turbo-instruct", task="completion")
    routes.inject_error(503, 3043, "Internal server error", model=qwen, times=PERSISTENT, after=1)

    response = requests.post(
        f"{gateway_url}/v1/completions",
        json={"model": "gpt-3.5-turbo-instruct", "prompt": ["one", "two"]},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert [request.model for request in routes.requests] == [qwen, qwen, LLAMA_8B, LLAMA_8B]
    (record,) = usage_records(1)
    first_prompt = routes.requests[0]  # answered, then the second prompt failed on the same route
    assert first_prompt.json["prompt"] == "one"
    assert record.prompt_tokens > usage["prompt_tokens"]
    assert record.completion_tokens > usage["completion_tokens"]


def test_embedding_batches_made_before_a_failure_are_recorded(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    bge = "@cf/baai/bge-base-en-v1.5"
    routes.inject_error(503, 3043, "Internal server error", model=bge, times=PERSISTENT, after=1)
    inputs = [f"text number {index}" for index in range(150)]  # two batches of at most 100

    response = requests.post(
        f"{gateway_url}/v1/embeddings",
        json={"model": "text-embedding-ada-002", "input": inputs},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    error_of(response, 502)
    # One batch embedded, the second refused, its retry refused: the first batch's tokens stay.
    assert [len(request.json["text"]) for request in routes.requests] == [100, 50, 100]
    (record,) = usage_records(1)
    from gateway.accounting.tokens import estimate_text_tokens

    assert record.prompt_tokens == sum(estimate_text_tokens(text) for text in inputs[:100])


def test_inputs_judged_before_a_failure_are_recorded(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    guard = "@cf/meta/llama-guard-3-8b"
    routes.inject_error(500, 3043, "Internal server error", model=guard, times=PERSISTENT, after=1)

    response = requests.post(
        f"{gateway_url}/v1/moderations",
        json={"model": "omni-moderation-latest", "input": ["first text", "second text"]},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    error_of(response, 502)
    # The first input judged, the second refused, the retry refused at once: one verdict was paid for.
    assert [request.model for request in routes.requests] == [guard, guard, guard]
    (record,) = usage_records(1)
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
