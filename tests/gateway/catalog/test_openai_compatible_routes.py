"""Chat and embeddings through providers of kind openai_compatible, as an operator configures them:
Cloudflare's own /ai/v1 base and a generic OpenAI server (the emulator's OpenAI mode), a token from
a GATEWAY_PROVIDER_ variable, extra headers, a stream without usage, and a fallback across kinds.
"""

from __future__ import annotations

import openai
import pytest
from conftest import EMULATOR_ACCOUNT, EMULATOR_TOKEN, PERSISTENT, error_of, sse_events, usage_records
from routing_helpers import post

from gateway.testing.emulator import WorkersAIEmulator

pytestmark = pytest.mark.django_db(transaction=True)

LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"
BGE_BASE = "@cf/baai/bge-base-en-v1.5"
HI = [{"role": "user", "content": "hi"}]


def openai_provider(name: str, base_url: str, **fields: object):  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    defaults = {"api_token_env": "", "api_token": EMULATOR_TOKEN, "read_timeout": 10}
    return Provider.objects.create(
        name=name, kind=Provider.Kind.OPENAI_COMPATIBLE, base_url=base_url, **{**defaults, **fields}
    )


def route(public_name: str, provider, upstream_model: str = LLAMA_8B, task: str = "chat", priority: int = 0):  # type: ignore[no-untyped-def]
    from gateway.models import ModelRoute

    return ModelRoute.objects.create(
        public_name=public_name,
        task=task,
        upstream_model=upstream_model,
        provider=provider,
        priority=priority,
        context_window=32_000,
        supports_tools=True,
        supports_json_mode=True,
        output_dimensions=768 if task == "embedding" else None,
    )


def cloudflare_v1(emulator: WorkersAIEmulator) -> str:
    return f"{emulator.base_url}/accounts/{EMULATOR_ACCOUNT}/ai/v1"


def test_cloudflares_ai_v1_serves_chat_and_embeddings(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    provider = openai_provider("cloudflare-v1", cloudflare_v1(routes))
    route("cf-chat", provider)
    route("cf-embed", provider, upstream_model=BGE_BASE, task="embedding")

    answer = openai_client.chat.completions.create(model="cf-chat", messages=HI)
    vectors = openai_client.embeddings.create(model="cf-embed", input=["one", "two"])

    assert answer.choices[0].message.content == "Hello! You said: hi"
    assert [len(item.embedding) for item in vectors.data] == [768, 768]
    assert [request.path.split("/ai/v1/")[1] for request in routes.requests] == ["chat/completions", "embeddings"]
    chat_record, embed_record = usage_records(2)
    assert (chat_record.provider, chat_record.upstream_model, chat_record.usage_estimated) == (
        "cloudflare-v1",
        LLAMA_8B,
        False,
    )
    assert embed_record.prompt_tokens > 0


def test_cloudflare_capacity_errors_keep_their_meaning(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    route("cf-chat", openai_provider("cloudflare-v1", cloudflare_v1(routes)))
    routes.inject_error(429, 3040, "Capacity temporarily exceeded", times=PERSISTENT)

    response = post(gateway_url, api_key, "chat/completions", {"model": "cf-chat", "messages": HI})

    assert error_of(response, 429)["code"] == "upstream_rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


def test_the_token_comes_from_its_variable_and_extra_headers_go_along(openai_client, routes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GATEWAY_PROVIDER_EMULATOR_KEY", EMULATOR_TOKEN)
    provider = openai_provider(
        "generic",
        routes.openai_base_url,
        api_token_env="GATEWAY_PROVIDER_EMULATOR_KEY",
        api_token="",
        extra_headers={"X-Team": "search"},
    )
    route("oc-chat", provider)

    openai_client.chat.completions.create(model="oc-chat", messages=HI)

    sent = routes.last_request.headers
    assert sent["authorization"] == f"Bearer {EMULATOR_TOKEN}"
    assert sent["x-team"] == "search"


def test_a_stream_without_a_usage_event_is_estimated_and_flagged(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    route("oc-chat", openai_provider("generic", routes.openai_base_url))
    routes.set_openai_stream_usage(False)

    response = post(
        gateway_url,
        api_key,
        "chat/completions",
        {"model": "oc-chat", "messages": HI, "stream": True, "stream_options": {"include_usage": True}},
    )

    events = sse_events(response.content)
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "Hello! You said: hi"
    usage = events[-1]["usage"]
    assert usage["completion_tokens"] == -(-len(text) // 4)  # the gateway's estimate: 4 characters a token
    assert routes.last_request.json["stream_options"] == {"include_usage": True}  # it was asked for
    (record,) = usage_records(1)
    assert (record.usage_estimated, record.completion_tokens) == (True, usage["completion_tokens"])


def test_a_failing_openai_compatible_route_falls_back_to_workers_ai(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    from gateway.models import Provider

    first = route("mixed", openai_provider("generic", routes.openai_base_url), priority=0)
    second = route("mixed", Provider.objects.get(name="workers-ai"), priority=1)
    routes.inject_error(503, 3043, "Service unavailable", times=1)

    answer = openai_client.chat.completions.create(model="mixed", messages=HI, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in answer if chunk.choices)

    assert text == "Hello! You said: hi"
    assert [request.path for request in routes.requests] == [
        "/openai/v1/chat/completions",
        f"/accounts/{EMULATOR_ACCOUNT}/ai/run/{LLAMA_8B}",
    ]
    (record,) = usage_records(1)
    assert (record.route_id, record.attempts, record.provider) == (second.id, 2, "workers-ai")
    assert first.id != second.id


def test_an_openai_shaped_refusal_is_the_gateways_envelope(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    route("oc-chat", openai_provider("generic", routes.openai_base_url))
    routes.inject_error(400, 0, "Invalid value for 'messages'", times=PERSISTENT)

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="oc-chat", messages=HI)

    assert caught.value.body["code"] == "upstream_bad_request"
    assert len(routes.requests) == 1  # the request itself was refused: never retried


def test_the_workers_ai_token_never_goes_to_another_openai_compatible_host(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import ValidationError

    from gateway.models import LEGACY_TOKEN_ENV, Provider

    settings.CLOUDFLARE_API_TOKEN = "cloudflare-secret"
    elsewhere = Provider(name="vllm", kind="openai_compatible", base_url="http://127.0.0.1:9/v1")
    assert elsewhere.api_token_env == LEGACY_TOKEN_ENV  # the model's default
    with pytest.raises(ValidationError) as refused:
        elsewhere.full_clean()
    assert set(refused.value.message_dict) == {"api_token_env"}
    Provider(
        name="cf", kind="openai_compatible", base_url="https://api.cloudflare.com/client/v4/accounts/a/ai/v1"
    ).full_clean()

    # A row saved past the rule (a shell, an old import) still never sends it.
    provider = openai_provider("generic", routes.openai_base_url, api_token="")
    Provider.objects.filter(pk=provider.pk).update(api_token_env=LEGACY_TOKEN_ENV)
    route("oc-chat", Provider.objects.get(pk=provider.pk))
    with pytest.raises(openai.APIStatusError):
        openai_client.chat.completions.create(model="oc-chat", messages=HI)
    assert "authorization" not in routes.last_request.headers
