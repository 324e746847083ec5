"""Work done by an attempt that then failed stays in the usage record (UsageEntry.spent_by_failed_attempt):
the choices, prompts, embedding batches and verdicts an upstream answered before it failed.
"""

from __future__ import annotations

import pytest
from conftest import PERSISTENT, error_of, usage_records
from routing_helpers import (
    HI,
    LLAMA_8B,
    LLAMA_70B,
    post,
    second_route,
)

pytestmark = pytest.mark.django_db(transaction=True)


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

    response = post(gateway_url, api_key, "completions", {"model": "gpt-3.5-turbo-instruct", "prompt": ["one", "two"]})

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

    response = post(gateway_url, api_key, "embeddings", {"model": "text-embedding-ada-002", "input": inputs})

    error_of(response, 502)
    # One batch embedded, the second refused, its retry refused: the first batch's tokens stay.
    assert [len(request.json["text"]) for request in routes.requests] == [100, 50, 100]
    (record,) = usage_records(1)
    from gateway.accounting.tokens import estimate_text_tokens

    assert record.prompt_tokens == sum(estimate_text_tokens(text) for text in inputs[:100])


def test_inputs_judged_before_a_failure_are_recorded(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    guard = "@cf/meta/llama-guard-3-8b"
    routes.inject_error(500, 3043, "Internal server error", model=guard, times=PERSISTENT, after=1)

    response = post(
        gateway_url, api_key, "moderations", {"model": "omni-moderation-latest", "input": ["first text", "second text"]}
    )

    error_of(response, 502)
    # The first input judged, the second refused, the retry refused at once: one verdict was paid for.
    assert [request.model for request in routes.requests] == [guard, guard, guard]
    (record,) = usage_records(1)
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
