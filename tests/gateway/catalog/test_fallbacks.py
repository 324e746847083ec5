"""Fallbacks and cooldowns (gateway/catalog/fallbacks.py, cooldown.py), as clients see them.

Two routes behind one name, the first failing — with Workers AI's 3040 or not reachable at all —
and the official SDK gets its answer from the second, streamed or not; the usage record names the
route that answered and the attempts made; a route failing repeatedly cools down, in Redis, where
/metrics and the admin read it.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from conftest import PERSISTENT, usage_records
from routing_helpers import (
    HI,
    LLAMA_8B,
    LLAMA_70B,
    cooldown_seconds,
    first_route,
    post,
    scrape,
    second_route,
    unreachable_first_route,
)

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_a_stream_failing_after_its_first_byte_ends_with_an_error_event(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    second_route()
    Provider.objects.filter(name="workers-ai").update(read_timeout=1)
    from gateway.catalog import routes as route_snapshot

    route_snapshot.invalidate()

    response = post(
        gateway_url,
        api_key,
        "chat/completions",
        {"model": "gpt-4", "messages": [{"role": "user", "content": "hi [[slow]]"}], "stream": True},
    )

    assert response.status_code == 200
    blocks = [block for block in response.text.split("\n\n") if block.startswith("data: {")]
    assert json.loads(blocks[0][len("data: ") :])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(blocks[-1][len("data: ") :])["error"]["code"] == "upstream_timeout"
    assert "[DONE]" not in response.text
    assert [request.model for request in routes.requests] == [LLAMA_70B]  # never retried mid-way
    (record,) = usage_records(1)
    assert (record.status, record.attempts) == (504, 1)


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

    assert set(cooldown.cooling([first_route().id, second.id])) == {first_route().id, second.id}
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

    assert first.id in cooldown.cooling([first.id])
    deadline = time.monotonic() + 5
    while first.id in cooldown.cooling([first.id]):
        assert time.monotonic() < deadline, "the cooldown never ended"
        time.sleep(0.05)
    openai_client.chat.completions.create(model="gpt-4", messages=HI)

    assert routes.requests[-1].model == LLAMA_70B  # warm again: first in line
