"""Bearer keys: who gets in, what they may use, and that only a keyed hash is ever stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from conftest import error_of, make_key, usage_records
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from gateway import stamps
from gateway.models import ApiKey, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def call(gateway_url: str, key: str | None, model: str = "gpt-4", **headers: str) -> requests.Response:
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    return requests.post(f"{gateway_url}{CHAT_URL}", json={"model": model, "messages": HI}, headers=headers)


def model_ids(gateway_url: str, key: str) -> list[str]:
    response = requests.get(f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return [model["id"] for model in response.json()["data"]]


def test_a_request_without_a_key_is_401(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    error = error_of(call(gateway_url, None), 401)

    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert routes.requests == []


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "sk-gw-no-scheme"])
def test_a_malformed_authorization_header_is_401(gateway_url, api_key, routes, authorization) -> None:  # type: ignore[no-untyped-def]
    error = error_of(call(gateway_url, None, Authorization=authorization), 401)

    assert error["code"] == "invalid_api_key"
    assert routes.requests == []


def test_an_unknown_key_is_401(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):  # the second answer comes from the cached negative lookup
        error = error_of(call(gateway_url, api_key + "x"), 401)
        assert error["code"] == "invalid_api_key"
    assert routes.requests == []


def test_a_revoked_key_is_refused_at_once_even_after_a_cached_success(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    assert call(gateway_url, api_key).status_code == 200  # the principal is now cached

    key = ApiKey.objects.get()
    key.revoked_at = timezone.now()
    key.save()

    error = error_of(call(gateway_url, api_key), 401)
    assert "revoked" in error["message"]
    error_of(requests.get(f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {api_key}"}), 401)
    assert len(routes.requests) == 1


def test_an_expired_key_is_401(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    expired = make_key("expired", expires_at=timezone.now() - timedelta(seconds=1))

    error = error_of(call(gateway_url, expired), 401)

    assert "expired" in error["message"]
    assert routes.requests == []


def test_shortening_a_keys_expiry_takes_effect_at_once(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.objects.get()
    key.expires_at = timezone.now() + timedelta(days=1)
    key.save()
    assert call(gateway_url, api_key).status_code == 200

    key.expires_at = timezone.now() - timedelta(minutes=1)
    key.save()

    assert "expired" in error_of(call(gateway_url, api_key), 401)["message"]


def test_a_model_outside_allowed_models_answers_as_an_unknown_one(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("narrow", allowed_models=["gpt-3.5-turbo", "@cf/openai/gpt-oss-20b"])

    refused = call(gateway_url, key, model="gpt-4")
    unknown = call(gateway_url, key, model="gpt-nonexistent")
    error = error_of(refused, 404)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "model_not_found", "model")
    # Nothing tells a served name from one that does not exist: the same body, name aside.
    assert refused.json() == {"error": {**unknown.json()["error"], "message": error["message"]}}
    assert unknown.json()["error"]["message"].replace("gpt-nonexistent", "gpt-4") == error["message"]
    assert routes.requests == []

    assert call(gateway_url, key, model="gpt-3.5-turbo").status_code == 200
    assert routes.last_request.model == "@cf/meta/llama-3.1-8b-instruct-fp8"
    # The raw name of an allowed public name's upstream is a different model name: not allowed.
    error_of(call(gateway_url, key, model="@cf/meta/llama-3.1-8b-instruct-fp8"), 404)


def test_models_lists_only_a_keys_allowed_models(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("narrow", allowed_models=["gpt-3.5-turbo", "@cf/openai/gpt-oss-20b"])

    assert model_ids(gateway_url, key) == ["@cf/openai/gpt-oss-20b", "gpt-3.5-turbo"]
    response = requests.get(f"{gateway_url}/v1/models/gpt-4", headers={"Authorization": f"Bearer {key}"})
    assert error_of(response, 404)["code"] == "model_not_found"


def test_the_access_token_is_an_unrestricted_key(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-access-token-0123456789"
    everything = model_ids(gateway_url, make_key("everything"))

    assert call(gateway_url, "static-access-token-0123456789", model="gpt-4").status_code == 200
    assert call(gateway_url, "static-access-token-0123456789", model="@cf/openai/gpt-oss-20b").status_code == 200
    assert model_ids(gateway_url, "static-access-token-0123456789") == everything
    error_of(call(gateway_url, "static-access-token-012345678"), 401)
    assert call(gateway_url, "static-access-token-0123456789", model="gpt-4").status_code == 200  # a marker
    chats = usage_records(3, endpoint="chat.completions")  # the refused one left none (README "The ledger")
    assert [(r.api_key_id, r.key_prefix, r.status) for r in chats] == [(None, "access-token", 200)] * 3


def test_a_non_ascii_key_is_401_when_an_access_token_is_set(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCESS_TOKEN = "static-access-token-0123456789"

    # A UTF-8 "é" arrives in the WSGI environ as two latin-1 characters.
    error = error_of(call(gateway_url, None, Authorization="Bearer cl\u00e9".encode()), 401)  # type: ignore[arg-type]

    assert error["code"] == "invalid_api_key"


def test_only_a_keyed_hash_of_the_key_is_stored(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    plaintext = make_key("stored")
    assert call(gateway_url, plaintext).status_code == 200
    usage_records(1)  # written once the answer is out: wait for it, it is one of the rows checked

    key = ApiKey.objects.get()
    assert key.key_hash == ApiKey.hash_key(plaintext) != plaintext
    assert plaintext.startswith(key.prefix) and len(key.prefix) < len(plaintext) // 2
    secret = plaintext[len(key.prefix) :]
    with connection.cursor() as cursor:
        for table in (ApiKey._meta.db_table, UsageRecord._meta.db_table):
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 (our own names)
            rows = [row[0] for row in cursor.fetchall()]
            assert rows
            assert all(plaintext not in row and secret not in row for row in rows)


def test_a_bulk_update_revokes_at_once_even_after_a_cached_success(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    assert call(gateway_url, api_key).status_code == 200  # cached, in Redis and in this process

    assert ApiKey.objects.filter(name="test").update(revoked_at=timezone.now()) == 1  # no post_save

    assert "revoked" in error_of(call(gateway_url, api_key), 401)["message"]
    assert ApiKey.objects.update(revoked_at=None) == 1
    assert call(gateway_url, api_key).status_code == 200


def test_a_deactivated_owner_disables_their_keys_at_once(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    assert call(gateway_url, api_key).status_code == 200
    owner = ApiKey.objects.get().owner
    owner.last_login = timezone.now()
    owner.save(update_fields=["last_login"])  # a login: nothing about the keys changes
    assert call(gateway_url, api_key).status_code == 200

    owner.is_active = False
    owner.save()

    error = error_of(call(gateway_url, api_key), 401)
    assert (error["code"], error["message"]) == ("invalid_api_key", "This API key's owner is deactivated.")
    owner.is_active = True
    owner.save()
    assert call(gateway_url, api_key).status_code == 200


def test_the_hash_secret_is_its_own_and_rotates_through_fallbacks(gateway_url, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_KEY_HASH_SECRET = "secret-one"
    plaintext = make_key("rotated")
    assert call(gateway_url, plaintext).status_code == 200
    settings.SECRET_KEY = "a-rotated-django-secret-key-of-enough-length-for-checks-0123456789"
    assert call(gateway_url, plaintext).status_code == 200  # DJANGO_SECRET_KEY no longer matters

    settings.GATEWAY_KEY_HASH_SECRET = "secret-two"
    assert error_of(call(gateway_url, plaintext), 401)["code"] == "invalid_api_key"  # unknown under two alone
    settings.GATEWAY_KEY_HASH_SECRET_FALLBACKS = ["secret-one"]
    assert call(gateway_url, plaintext).status_code == 200  # found under one, stored again under two
    assert ApiKey.objects.get().key_hash == ApiKey.hash_key(plaintext)

    settings.GATEWAY_KEY_HASH_SECRET_FALLBACKS = []
    assert call(gateway_url, plaintext).status_code == 200
    assert call(gateway_url, plaintext + "x").status_code == 401


def test_the_ledgers_last_used_touch_announces_no_key_change(api_key) -> None:  # type: ignore[no-untyped-def]
    client = cache._cache.get_client(write=True)

    def stamp() -> bytes | None:
        return client.hget(stamps.stamps_key(), "keys")

    before = stamp()
    assert ApiKey.objects.update(last_used_at=timezone.now()) == 1  # as gateway/accounting/ledger.py does
    assert stamp() == before  # no worker reloads its keys for it
    assert ApiKey.objects.update(rpm_limit=5) == 1
    assert stamp() != before
