"""Provider tokens: only GATEWAY_PROVIDER_* (or CLOUDFLARE_API_TOKEN) variables, and never in Redis.

An admin user chooses a provider's base URL and the variable its token comes from; were any
variable allowed, DJANGO_SECRET_KEY or DATABASE_URL would go to a host of their choosing.
"""

from __future__ import annotations

import pytest
import requests
from conftest import EMULATOR_TOKEN, error_of
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from gateway.accounting.counters import redis
from gateway.catalog import routes as route_snapshot
from gateway.models import Provider
from gateway.stamps import stamps_key

pytestmark = pytest.mark.django_db(transaction=True)

SENTINEL = "sentinel-secret-0e7f4c1d"  # what the forbidden variable holds in these tests
HI = [{"role": "user", "content": "hi"}]


def chat(gateway_url: str, key: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": HI},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def force(**fields: object) -> None:
    """Write past the model's validation, as a row saved before the rule (or a shell) would, then
    drop the route snapshot as its minute's expiry would: `update()` sends no signal."""
    Provider.objects.filter(name="workers-ai").update(**fields, updated_at=timezone.now())
    route_snapshot.invalidate()


def test_the_model_accepts_only_the_documented_variables(transactional_db: None) -> None:
    for allowed in ("GATEWAY_PROVIDER_OPENAI_TOKEN", "CLOUDFLARE_API_TOKEN", ""):
        Provider(name=f"ok-{len(allowed)}", api_token_env=allowed).full_clean()
    for refused in ("DJANGO_SECRET_KEY", "DATABASE_URL", "GATEWAY_PROVIDER_", "gateway_provider_x", "PATH"):
        with pytest.raises(ValidationError) as caught:
            Provider(name="refused", api_token_env=refused).full_clean()
        assert set(caught.value.message_dict) == {"api_token_env"}


def test_the_admin_form_shows_the_refusal(transactional_db: None) -> None:
    operator = Client()
    operator.force_login(get_user_model().objects.create_superuser("operator", password="not-used-here"))
    form = {
        "name": "exfiltrate",
        "kind": "workers_ai",
        "base_url": "https://collector.example",
        "account_id": "x",
        "api_token_env": "DJANGO_SECRET_KEY",
        "api_token": "",
        "connect_timeout": 5,
        "read_timeout": 120,
        "enabled": "on",
    }

    page = operator.post("/admin/gateway/provider/add/", form)

    assert page.status_code == 200  # the form again, with its error
    assert "Name a variable starting with GATEWAY_PROVIDER_" in page.content.decode()
    assert not Provider.objects.filter(name="exfiltrate").exists()
    form["api_token_env"] = "GATEWAY_PROVIDER_COLLECTOR_TOKEN"
    assert operator.post("/admin/gateway/provider/add/", form).status_code == 302
    assert Provider.objects.filter(name="exfiltrate").exists()


def test_a_forbidden_variable_forced_into_a_row_resolves_to_no_token(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, monkeypatch
) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", SENTINEL)
    monkeypatch.setenv("GATEWAY_PROVIDER_EMULATOR_TOKEN", EMULATOR_TOKEN)

    # The control: a documented variable is read, so the refusals below are the rule's doing.
    force(api_token_env="GATEWAY_PROVIDER_EMULATOR_TOKEN", api_token="")
    assert chat(gateway_url, api_key).status_code == 200
    # A forbidden name is ignored: the stored token is used, as with no variable at all.
    force(api_token_env="DJANGO_SECRET_KEY", api_token=EMULATOR_TOKEN)
    assert chat(gateway_url, api_key).status_code == 200
    # Nothing stored either: no token at all, so no upstream call.
    force(api_token_env="DJANGO_SECRET_KEY", api_token="")
    refused = chat(gateway_url, api_key)

    assert error_of(refused, 502)["code"] == "upstream_auth_failed"
    sent = [request.headers for request in routes.requests]
    assert [headers["authorization"] for headers in sent] == [f"Bearer {EMULATOR_TOKEN}"] * 2
    assert not any(SENTINEL in value for headers in sent for value in headers.values())


def test_the_route_snapshot_in_redis_holds_no_token(gateway_url, api_key, routes) -> None:  # type: ignore[no-untyped-def]
    assert Provider.objects.get(name="workers-ai").api_token == EMULATOR_TOKEN  # stored, not from a variable
    assert chat(gateway_url, api_key).status_code == 200  # the token was found, and the snapshot built

    client = redis()
    stamp = client.hget(stamps_key(), "routes") or b"0"  # the snapshots in use are keyed by it
    names = list(client.scan_iter(match=cache.make_and_validate_key("routes:snapshot:") + "*:" + stamp.decode()))
    snapshots = [client.get(name) for name in names]

    assert snapshots and all(snapshots)
    assert all(b"workers-ai" in raw for raw in snapshots)  # the provider is in it…
    assert not any(EMULATOR_TOKEN.encode() in raw for raw in snapshots)  # …its token is not
