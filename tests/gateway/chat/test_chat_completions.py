"""POST /v1/chat/completions through the official SDK and on raw bytes."""

from __future__ import annotations

import pytest
import requests
from conftest import sse_events, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = "/v1/chat/completions"
LLAMA_70B = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"


def post(gateway_url: str, key: str, body: dict, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.post(f"{gateway_url}{CHAT_URL}", json=body, headers={"Authorization": f"Bearer {key}"}, **kwargs)


def test_it_answers_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])

    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 4
    assert 1_700_000_000 < completion.created < 4_000_000_000  # seconds, not milliseconds
    sent = routes.last_request
    assert sent.model == LLAMA_70B
    assert sent.json["messages"] == [{"role": "user", "content": "hi"}]


def test_it_streams_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    stream = openai_client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "hi [[unicode]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Grüße, 世界 🌍 ok"
    assert [c.choices[0].delta.role for c in chunks if c.choices].count("assistant") == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_the_stream_bytes_follow_the_openai_framing(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(
        gateway_url,
        api_key,
        {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True,
         "stream_options": {"include_usage": True}},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(response.content)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [e["choices"][0]["delta"] for e in events[1:-2]]
    assert all(set(d) == {"content"} for d in deltas)
    assert "".join(d["content"] for d in deltas) == "Hello! You said: hi"
    assert events[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 4
    assert all(e["usage"] is None for e in events[:-1])
    assert all(e["object"] == "chat.completion.chunk" for e in events)


def test_a_stream_without_include_usage_has_no_usage_chunk(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(
        gateway_url, api_key, {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )

    events = sse_events(response.content)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in e for e in events)


@pytest.mark.workers_ai_payload
def test_parameters_reach_the_upstream_under_their_upstream_names(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0,
        top_p=0.5,
        max_completion_tokens=50,
        seed=7,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        stop=["zzz"],
        n=1,
        user="someone",
        logit_bias={"1": 2},
    )

    sent = routes.last_request.json
    assert sent == {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0,
        "top_p": 0.5,
        "max_tokens": 50,
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
    }


def test_max_tokens_is_derived_from_the_context_window_when_absent(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])

    # llama-3.3-70b has a 24,000-token window; "hi" estimates at 1 + 4 per message + 3 primer.
    assert routes.last_request.json["max_tokens"] == 24_000 - 8


def test_a_prompt_beyond_the_context_window_is_refused(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x" * 100_000}])

    assert caught.value.body["code"] == "context_length_exceeded"
    assert caught.value.body["param"] == "messages"
    assert routes.requests == []


def test_finish_reason_is_length_when_max_tokens_cut_the_answer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "[[long]]"}], max_tokens=5
    )

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5


def test_stop_sequences_truncate_the_answer(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi there"}], stop=["there"]
    )
    streamed = openai_client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi there"}], stop=["there"], stream=True
    )
    chunks = list(streamed)

    assert completion.choices[0].message.content == "Hello! You said: hi "
    assert completion.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! You said: hi "
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n_above_one_makes_one_choice_per_upstream_call(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}], n=3)

    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert len(routes.requests) == 3
    assert completion.usage.completion_tokens == 12


def test_reasoning_never_leaks_into_content(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    for model in ("gpt-4-32k", "gpt-3.5-turbo-16k"):
        completion = openai_client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        message = completion.choices[0].message
        assert message.content == "Hello! You said: hi"
        assert "think" not in message.content
        assert message.reasoning_content.strip() == "I should greet the user."

        chunks = list(
            openai_client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
        assert content == "Hello! You said: hi"
        assert reasoning.strip() == "I should greet the user."


@pytest.mark.workers_ai_payload
def test_gpt_oss_uses_the_responses_form(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.chat.completions.create(
        model="@cf/openai/gpt-oss-120b",
        messages=[{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}],
    )

    sent = routes.last_request.json
    assert "messages" not in sent
    assert sent["instructions"] == "be kind"
    assert completion.choices[0].message.content
    assert "reasoning" not in (completion.choices[0].message.content or "")


@pytest.mark.workers_ai_payload
def test_gpt_oss_gets_the_reasoning_effort(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.chat.completions.create(
        model="@cf/openai/gpt-oss-120b", messages=[{"role": "user", "content": "hi"}], reasoning_effort="minimal"
    )

    assert routes.last_request.json["reasoning"] == {"effort": "low"}  # its lowest


def test_every_request_leaves_one_usage_record(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    list(
        openai_client.chat.completions.create(
            model="gpt-4",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    records = usage_records(2)
    assert [(r.streamed, r.status, r.public_model, r.upstream_model) for r in records] == [
        (False, 200, "gpt-4", LLAMA_70B),
        (True, 200, "gpt-4", LLAMA_70B),
    ]
    assert all(r.completion_tokens == 4 and r.total_tokens == r.prompt_tokens + 4 for r in records)
    assert records[1].ttft_ms is not None
    assert all(r.request_id.startswith("req_") for r in records)


def test_an_overloaded_route_falls_back_to_the_next_by_priority(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute, Provider

    ModelRoute.objects.create(
        public_name="gpt-4",
        task="chat",
        upstream_model="@cf/meta/llama-3.1-8b-instruct-fp8",
        provider=Provider.objects.get(name="workers-ai"),
        context_window=32_000,
        priority=5,
    )
    routes.inject_error(status=429, code=3040, message="Capacity temporarily exceeded", model=LLAMA_70B)

    completion = openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])

    assert completion.choices[0].message.content == "Hello! You said: hi"
    assert [request.model for request in routes.requests] == [LLAMA_70B, "@cf/meta/llama-3.1-8b-instruct-fp8"]
    (record,) = usage_records(1)
    assert (record.status, record.upstream_model) == (200, "@cf/meta/llama-3.1-8b-instruct-fp8")


def test_a_bad_request_is_not_retried_on_another_route(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    import openai

    from gateway.models import ModelRoute, Provider

    ModelRoute.objects.create(
        public_name="gpt-4",
        task="chat",
        upstream_model="@cf/meta/llama-3.1-8b-instruct-fp8",
        provider=Provider.objects.get(name="workers-ai"),
        priority=5,
    )
    routes.inject_error(status=400, code=5006, message="AiError: Bad input: nope", model=LLAMA_70B)

    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert [request.model for request in routes.requests] == [LLAMA_70B]
