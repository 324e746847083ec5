"""The operator's admin: every changelist renders, keys are issued once and revoked for real."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests
from conftest import EMULATOR_TOKEN, make_key
from django.contrib.auth import get_user_model
from django.db import connection

from gateway.models import ApiKey, Provider, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

PLAINTEXT = re.compile(r"sk-gw-[A-Za-z0-9_-]{20,}")


def usage(request_id: str, key: ApiKey | None, model: str, status: int, when: datetime) -> UsageRecord:
    return UsageRecord.objects.create(
        request_id=request_id,
        api_key=key,
        key_prefix=key.prefix if key else "",
        endpoint="chat.completions",
        public_model=model,
        status=status,
        error_code=f"marker-{request_id}",  # error_code is a changelist column: it names the row
        created_at=when,
    )


def chat(gateway_url: str, key: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.mark.parametrize("model", ["provider", "modelroute", "apikey", "usagerecord"])
def test_every_changelist_renders(operator, routes, model) -> None:  # type: ignore[no-untyped-def]
    make_key("listed", allowed_models=["gpt-4"])
    usage("req_1", ApiKey.objects.get(), "gpt-4", 200, datetime.now(UTC))

    response = operator.get(f"/admin/gateway/{model}/")

    assert response.status_code == 200
    assert b'<table id="result_list"' in response.content


def test_adding_a_key_shows_its_plaintext_once_and_stores_only_the_hash(operator, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    owner = get_user_model().objects.get(username="operator")

    response = operator.post(
        "/admin/gateway/apikey/add/",
        {
            "name": "from-admin",
            "owner": owner.pk,
            "allowed_models": ["gpt-4"],
            "rpm_limit": "60",
            "tpm_limit": "",
            "model_limits-rows": "0",
            "quota_period": "month",
            "expires_at_0": "",
            "expires_at_1": "",
            "revoked_at_0": "",
            "revoked_at_1": "",
        },
    )

    assert response.status_code == 200  # the page itself, not a redirect to a page with a message
    shown = PLAINTEXT.findall(response.content.decode())
    assert len(set(shown)) == 1, response.content.decode()[:2000]
    plaintext = shown[0]
    assert "no-store" in response["Cache-Control"]
    assert not any(plaintext[6:] in morsel.OutputString() for morsel in response.cookies.values())
    assert "messages" not in response.cookies  # no message carries it to the next page either
    key = ApiKey.objects.get()
    assert (key.name, key.owner, key.allowed_models, key.rpm_limit) == ("from-admin", owner, ["gpt-4"], 60)
    assert key.key_hash == ApiKey.hash_key(plaintext)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {ApiKey._meta.db_table} t")
        assert plaintext not in cursor.fetchone()[0]
    assert not PLAINTEXT.search(operator.get("/admin/gateway/apikey/").content.decode())
    change_page = operator.get(f"/admin/gateway/apikey/{key.pk}/change/").content.decode()
    assert key.key_hash not in change_page and plaintext not in change_page
    assert chat(gateway_url, plaintext).status_code == 200


def test_editing_a_key_keeps_its_secret(operator, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    plaintext = make_key("edited")
    key = ApiKey.objects.get()

    response = operator.post(
        f"/admin/gateway/apikey/{key.pk}/change/",
        {"name": "renamed", "owner": key.owner_id, "rpm_limit": "", "tpm_limit": "",
         "model_limits-rows": "0", "quota_period": "month",
         "expires_at_0": "", "expires_at_1": "", "revoked_at_0": "", "revoked_at_1": ""},
    )  # fmt: skip

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.name == "renamed" and key.key_hash == ApiKey.hash_key(plaintext)
    assert chat(gateway_url, plaintext).status_code == 200


def test_the_revoke_action_revokes(operator, gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    revoked, kept = make_key("revoked"), make_key("kept")
    assert chat(gateway_url, revoked).status_code == 200  # cached as a good key
    target = ApiKey.objects.get(name="revoked")

    response = operator.post(
        "/admin/gateway/apikey/", {"action": "revoke", "_selected_action": [target.pk]}, follow=True
    )

    assert response.status_code == 200
    assert b"Revoked 1 key(s)." in response.content
    assert ApiKey.objects.get(name="revoked").revoked_at is not None
    assert ApiKey.objects.get(name="kept").revoked_at is None
    assert chat(gateway_url, revoked).status_code == 401
    assert chat(gateway_url, kept).status_code == 200


def provider_form(provider: Provider, **changes: object) -> dict[str, object]:
    fields = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "account_id": provider.account_id,
        "api_token_env": provider.api_token_env,
        "api_token": "",  # what a browser sends back for an untouched password field
        "connect_timeout": provider.connect_timeout,
        "read_timeout": provider.read_timeout,
        "enabled": "on",
    }
    return {**fields, **changes}


def test_the_provider_page_never_shows_the_stored_token(operator, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get()

    page = operator.get(f"/admin/gateway/provider/{provider.pk}/change/").content.decode()

    assert 'name="api_token"' in page
    assert EMULATOR_TOKEN not in page


def test_saving_a_provider_keeps_replaces_or_clears_its_token(operator, gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get()
    url = f"/admin/gateway/provider/{provider.pk}/change/"

    assert operator.post(url, provider_form(provider, read_timeout=9)).status_code == 302
    provider.refresh_from_db()
    assert (provider.api_token, provider.read_timeout) == (EMULATOR_TOKEN, 9)
    assert chat(gateway_url, api_key).status_code == 200

    assert operator.post(url, provider_form(provider, api_token="rotated-token")).status_code == 302
    provider.refresh_from_db()
    assert provider.api_token == "rotated-token"
    assert chat(gateway_url, api_key).status_code == 502  # the emulator knows only the old token

    assert operator.post(url, provider_form(provider, clear_api_token="on")).status_code == 302
    provider.refresh_from_db()
    assert provider.api_token == ""


def test_the_usage_changelist_filters(operator, routes) -> None:  # type: ignore[no-untyped-def]
    make_key("a")
    make_key("b")
    a, b = ApiKey.objects.get(name="a"), ApiKey.objects.get(name="b")
    now = datetime.now(UTC)
    old = datetime(2024, 3, 1, 12, tzinfo=UTC)
    usage("one", a, "gpt-4", 200, now)
    usage("two", a, "gpt-3.5-turbo", 429, now)
    usage("three", b, "gpt-4", 502, old)

    def rows(query: str) -> set[str]:
        response = operator.get(f"/admin/gateway/usagerecord/?{query}")
        assert response.status_code == 200, query  # an unknown filter redirects with ?e=1
        return set(re.findall(r"marker-(\w+)", response.content.decode()))

    assert rows("") == {"one", "two", "three"}
    assert rows(f"api_key__id__exact={a.pk}") == {"one", "two"}
    assert rows("public_model__exact=gpt-4") == {"one", "three"}
    assert rows("status__exact=429") == {"two"}
    assert rows("created_at__gte=2024-01-01+00:00:00%2B00:00&created_at__lt=2024-12-31+00:00:00%2B00:00") == {"three"}
    assert rows("created_at__year=2024") == {"three"}
    assert rows(f"api_key__id__exact={a.pk}&public_model__exact=gpt-4") == {"one"}
    assert rows("q=two") == {"two"}  # search by request id
