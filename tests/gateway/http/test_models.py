"""GET /v1/models and GET /v1/models/{id}, on raw HTTP and through the official SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import error_of

from gateway.catalog import routes as route_snapshot
from gateway.models import ModelRoute

pytestmark = pytest.mark.django_db(transaction=True)

LLAMA_8B = "@cf/meta/llama-3.1-8b-instruct-fp8"


def get(gateway_url: str, key: str | None, path: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.get(f"{gateway_url}{path}", headers=headers)


def listed(gateway_url: str, key: str) -> dict[str, dict[str, Any]]:
    response = get(gateway_url, key, "/v1/models")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return {model["id"]: model for model in body["data"]}


@pytest.fixture
def raw_models_hidden(settings, routes) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.GATEWAY_EXPOSE_RAW_MODELS = False
    route_snapshot.invalidate()  # the route table is a Redis snapshot built under the old setting
    yield
    route_snapshot.invalidate()


def test_listing_models_needs_a_key(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    error_of(get(gateway_url, None, "/v1/models"), 401)
    error_of(get(gateway_url, None, "/v1/models/gpt-4"), 401)


def test_it_lists_public_names_and_raw_names(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    models = listed(gateway_url, api_key)

    assert {"gpt-3.5-turbo", "gpt-4", "gpt-4o", "text-embedding-3-small", "whisper-1", "dall-e-3"} <= set(models)
    assert {LLAMA_8B, "@cf/openai/gpt-oss-120b", "@cf/baai/bge-small-en-v1.5"} <= set(models)
    assert list(models) == sorted(models)
    for model in models.values():
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model"
        assert model["owned_by"] == "workers-ai"
        assert 1_700_000_000 < model["created"] <= time.time() + 1  # seconds, not milliseconds
    assert routes.requests == []  # the list is the gateway's own, not a catalogue call


def test_it_retrieves_a_public_name(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    response = get(gateway_url, api_key, "/v1/models/gpt-4")

    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json() == listed(gateway_url, api_key)["gpt-4"]


@pytest.mark.parametrize("path", [f"/v1/models/{LLAMA_8B}", "/v1/models/@cf%2Fmeta%2Fllama-3.1-8b-instruct-fp8"])
def test_it_retrieves_a_raw_name_plain_or_encoded(gateway_url, api_key, routes, path) -> None:  # type: ignore[no-untyped-def]
    response = get(gateway_url, api_key, path)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == LLAMA_8B
    assert response.json()["object"] == "model"


def test_an_unknown_model_is_a_404_envelope(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v1/models/gpt-17", "/v1/models/@cf/meta/llama-99", "/v1/models/gpt-4/extra"):
        error = error_of(get(gateway_url, api_key, path), 404)
        assert error["code"] == "model_not_found"
        assert error["param"] == "model"


def test_a_disabled_route_disappears(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    assert "gpt-4" in listed(gateway_url, api_key)  # the route table is now cached

    route = ModelRoute.objects.get(public_name="gpt-4", task="chat")
    route.enabled = False
    route.save()

    assert "gpt-4" not in listed(gateway_url, api_key)
    error_of(get(gateway_url, api_key, "/v1/models/gpt-4"), 404)
    chat = requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert error_of(chat, 404)["code"] == "model_not_found"
    assert routes.requests == []


def test_raw_names_can_be_hidden(gateway_url, api_key, raw_models_hidden) -> None:  # type: ignore[no-untyped-def]
    models = listed(gateway_url, api_key)

    assert "gpt-3.5-turbo" in models
    assert not [name for name in models if name.startswith("@")]
    error_of(get(gateway_url, api_key, f"/v1/models/{LLAMA_8B}"), 404)
    assert get(gateway_url, api_key, "/v1/models/gpt-3.5-turbo").status_code == 200


def test_the_sdk_lists_and_retrieves(openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    ids = [model.id for model in openai_client.models.list()]
    model = openai_client.models.retrieve(LLAMA_8B)

    assert "gpt-4" in ids and LLAMA_8B in ids
    assert model.id == LLAMA_8B
    assert model.object == "model"
    assert model.owned_by == "workers-ai"
    assert 1_700_000_000 < model.created < 4_000_000_000
