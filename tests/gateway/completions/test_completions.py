"""POST /v1/completions (legacy) through the official SDK and on raw bytes."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from conftest import PERSISTENT, error_of, sse_events, usage_records

pytestmark = pytest.mark.django_db(transaction=True)

QWEN_CODER = "@cf/qwen/qwen2.5-coder-32b-instruct"
UPSTREAM_KEYS = {"prompt", "raw", "stream", "max_tokens", "temperature", "top_p", "top_k", "seed",
                 "repetition_penalty", "frequency_penalty", "presence_penalty", "lora"}  # fmt: skip


def post(gateway_url: str, key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


@pytest.mark.workers_ai_payload
def test_it_answers_a_string_prompt_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")

    assert completion.id.startswith("cmpl-")
    assert completion.object == "text_completion"
    assert completion.model == "gpt-3.5-turbo-instruct"
    assert 1_700_000_000 < completion.created < 4_000_000_000  # seconds, not milliseconds
    (choice,) = completion.choices
    assert (choice.text, choice.index, choice.logprobs) == ("Hello! You said: hi", 0, None)
    assert choice.finish_reason == "stop"
    # The emulator counts a prompt as ceil(chars / 4) + 4 and one token per word of the reply.
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 4)
    assert completion.usage.total_tokens == 9
    sent = routes.last_request
    assert sent.model == QWEN_CODER
    assert sent.json == {"prompt": "hi", "max_tokens": 16}


@pytest.mark.workers_ai_payload
def test_the_upstream_gets_the_prompt_form_with_documented_keys_only(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.completions.create(
        model="code-davinci-002",
        prompt="def add(a, b):",
        max_tokens=40,
        temperature=0,
        top_p=0.5,
        seed=7,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        stop=["zzz"],
        n=1,
        best_of=1,
        echo=True,
        suffix="",
        user="someone",
        logit_bias={"1": 2},
    )

    sent = routes.last_request.json
    assert set(sent) <= UPSTREAM_KEYS
    assert sent == {
        "prompt": "def add(a, b):",
        "max_tokens": 40,
        "temperature": 0,
        "top_p": 0.5,
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
    }
    assert routes.last_request.model == QWEN_CODER


def test_max_tokens_defaults_to_16_and_a_cut_answer_finishes_with_length(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="[[long]]")

    assert routes.last_request.json["max_tokens"] == 16
    assert completion.choices[0].text == " ".join(f"word{i}" for i in range(1, 17))
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 16


def test_a_list_prompt_gets_n_choices_per_prompt_in_openai_order(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt=["hi", "yo there"], n=2)

    assert [(c.index, c.text) for c in completion.choices] == [
        (0, "Hello! You said: hi"),
        (1, "Hello! You said: hi"),
        (2, "Hello! You said: yo there"),
        (3, "Hello! You said: yo there"),
    ]
    assert [r.json["prompt"] for r in routes.requests] == ["hi", "hi", "yo there", "yo there"]
    # Each prompt counted once (5 and 6 tokens), every completion counted (4 + 4 + 5 + 5).
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 18)


def test_echo_puts_the_prompt_before_the_completion(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", echo=True)
    chunks = list(openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", echo=True, stream=True))

    assert completion.choices[0].text == "hiHello! You said: hi"
    assert "".join(c.choices[0].text for c in chunks) == "hiHello! You said: hi"
    assert "echo" not in routes.last_request.json


def test_stop_sequences_truncate_the_completion_but_not_the_echo(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    completion = openai_client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="say hi", stop=["said", "zzz"], echo=True
    )
    chunks = list(
        openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi", stop="said", stream=True)
    )

    assert completion.choices[0].text == "say hiHello! You "
    assert completion.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].text for c in chunks) == "Hello! You "
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "stop" not in routes.last_request.json


@pytest.mark.parametrize(
    ("extra", "param", "words"),
    [
        ({"prompt": "hi", "suffix": "return x"}, "suffix", "suffix"),
        ({"prompt": [1, 2, 3]}, "prompt", "tokenizer"),
        ({"prompt": [[1, 2], [3]]}, "prompt", "tokenizer"),
        ({"prompt": []}, "prompt", "empty"),
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": ["hi", 3]}, "prompt", "array of strings"),
        ({}, "prompt", "provide a prompt"),
        ({"prompt": "hi", "logprobs": 1}, "logprobs", "logprobs"),
        ({"prompt": "hi", "best_of": 3}, "best_of", "logprobs"),
        ({"prompt": "hi", "n": 2, "best_of": 1}, "best_of", "at least n"),
        ({"prompt": "hi", "echo": "yes"}, "echo", "boolean"),
        ({"prompt": ["a", "b", "c"], "n": 3}, "prompt", "at most 8"),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens", "at least 1"),
    ],
)
def test_it_refuses_what_it_cannot_honour(gateway_url, api_key, routes, extra, param, words) -> None:  # type: ignore[no-untyped-def]
    error = error_of(post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", **extra}), 400)

    assert error["param"] == param
    assert words in error["message"]
    assert routes.requests == []


def test_the_sdk_raises_bad_request_for_a_suffix(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="def f(", suffix="return 1")

    assert caught.value.body["param"] == "suffix"


def test_a_chat_model_is_not_served_here_and_an_unknown_model_is_not_found(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    chat_only = error_of(post(gateway_url, api_key, {"model": "gpt-4", "prompt": "hi"}), 400)
    unknown = error_of(post(gateway_url, api_key, {"model": "no-such-model", "prompt": "hi"}), 404)

    assert (chat_only["param"], chat_only["code"]) == ("model", "model_not_supported")
    assert (unknown["param"], unknown["code"]) == ("model", "model_not_found")
    assert routes.requests == []


def test_a_prompt_beyond_the_context_window_is_refused(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x" * 140_000)

    assert caught.value.body["code"] == "context_length_exceeded"
    assert caught.value.body["param"] == "prompt"
    assert routes.requests == []


@pytest.mark.workers_ai_payload
def test_the_stream_bytes_follow_the_openai_framing(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(
        gateway_url,
        api_key,
        {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "stream": True,
         "stream_options": {"include_usage": True}},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(response.content)
    assert all(e["object"] == "text_completion" for e in events)
    assert len({(e["id"], e["created"], e["model"]) for e in events}) == 1 and events[0]["id"].startswith("cmpl-")
    texts = [e["choices"][0] for e in events[:-2]]
    assert all(c.keys() == {"text", "index", "logprobs", "finish_reason"} for c in texts)
    assert all((c["index"], c["logprobs"], c["finish_reason"]) == (0, None, None) for c in texts)
    assert "".join(c["text"] for c in texts) == "Hello! You said: hi"
    assert events[-2]["choices"] == [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    assert events[-1]["choices"] == []
    assert events[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert all(e["usage"] is None for e in events[:-1])
    sent = routes.last_request.json
    assert sent == {"prompt": "hi", "max_tokens": 16, "stream": True}


def test_a_stream_without_include_usage_has_no_usage_chunk(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "stream": True})

    events = sse_events(response.content)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in e for e in events)


def test_it_streams_several_prompts_and_choices_through_the_sdk(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    chunks = list(
        openai_client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt=["hi", "[[long]]"],
            n=2,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        texts[choice.index] = texts.get(choice.index, "") + choice.text
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
    long = " ".join(f"word{i}" for i in range(1, 17))
    assert texts == {0: "Hello! You said: hi", 1: "Hello! You said: hi", 2: long, 3: long}
    assert finishes == {0: "stop", 1: "stop", 2: "length", 3: "length"}
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 4 + 4 + 16 + 16
    assert chunks[-1].usage.prompt_tokens == 5 + 6
    assert len(routes.requests) == 4


def test_keepalive_comments_fill_upstream_silences(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    # settings_test sets GATEWAY_SSE_KEEPALIVE_SECONDS = 0.5; [[slow]] pauses the upstream 2 s.
    response = post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi [[slow]]", "stream": True})

    raw = response.content.decode()
    assert ": ping\n\n" in raw
    assert raw.index(": ping") < raw.index("[DONE]")
    assert "".join(e["choices"][0]["text"] for e in sse_events(response.content)) == "Hello! You said: hi [[slow]]"


def test_an_upstream_refusal_before_the_first_byte_is_a_real_http_error(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    routes.inject_error(
        status=429, code=3040, message="Capacity temporarily exceeded", model=QWEN_CODER, times=PERSISTENT
    )
    response = post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "stream": True})

    error = error_of(response, 429)
    assert error["code"] == "upstream_rate_limited"
    assert response.headers["Retry-After"]
    (record,) = usage_records(1)
    assert (record.endpoint, record.status, record.streamed) == ("completions", 429, True)


def test_an_upstream_failure_mid_stream_arrives_as_an_error_event(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    provider = Provider.objects.get(name="workers-ai")
    provider.read_timeout = 1  # [[slow]] then pauses the upstream beyond the provider's read timeout
    provider.save()
    response = post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi [[slow]]", "stream": True})

    raw = response.content.decode()
    events = [json.loads(block[len("data: ") :]) for block in raw.split("\n\n") if block.startswith("data: {")]
    assert events[-1]["error"]["code"] == "upstream_timeout"
    assert "[DONE]" not in raw
    (record,) = usage_records(1)
    assert (record.status, record.error_code) == (504, "upstream_timeout")


def test_every_request_leaves_one_usage_record(gateway_url, api_key, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    list(openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", stream=True))
    post(gateway_url, api_key, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "suffix": "x"})

    records = usage_records(3)
    assert [(r.endpoint, r.streamed, r.status, r.public_model) for r in records] == [
        ("completions", False, 200, "gpt-3.5-turbo-instruct"),
        ("completions", True, 200, "gpt-3.5-turbo-instruct"),
        ("completions", False, 400, ""),
    ]
    assert [r.upstream_model for r in records[:2]] == [QWEN_CODER, QWEN_CODER]
    assert all((r.prompt_tokens, r.completion_tokens) == (5, 4) for r in records[:2])
    assert records[1].ttft_ms is not None and records[1].client_disconnected is False
