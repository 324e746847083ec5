"""A provider's secrets go only where they were meant to: an admin user who can edit providers but
never read their tokens must not be able to send one to a host of their own.

- CLOUDFLARE_API_TOKEN goes only to the operator's CLOUDFLARE_API_BASE_URL (a blank base URL, or
  its scheme, host and port) or to https://api.cloudflare.com, whatever the kind;
- a stored token is cleared when the base URL moves to another origin without a token of its own;
- extra headers, plaintext everywhere they go, refuse credentials.
"""

from __future__ import annotations

import logging
from io import StringIO
from pathlib import Path

import pytest
import requests
from conftest import EMULATOR_TOKEN, error_of
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from gateway.catalog import routes as route_snapshot
from gateway.models import LEGACY_TOKEN_ENV, Provider

pytestmark = pytest.mark.django_db(transaction=True)

OPERATORS_BASE = "http://cf-proxy.internal:8080/client/v4"  # CLOUDFLARE_API_BASE_URL in these tests
COLLECTOR = "https://collector.example/v1"


def stored(name: str = "workers-ai") -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_token FROM gateway_provider WHERE name = %s", [name])
        return cursor.fetchone()[0]


def chat(gateway_url: str, key: str, text: str) -> requests.Response:
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def cleared_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "gateway.provider_models" and "cleared" in r.getMessage()
    ]


# --- CLOUDFLARE_API_TOKEN goes to Cloudflare only -----------------------------------------------


@pytest.mark.parametrize("kind", ["workers_ai", "openai_compatible"])
@pytest.mark.parametrize(
    "base_url",
    [
        "http://cf-proxy.internal:8080/elsewhere/on/the/same/origin",
        "HTTP://CF-PROXY.internal:8080/client/v4",
        "https://api.cloudflare.com/client/v4/accounts/a/ai/v1",
        "https://api.cloudflare.com:443/client/v4",
    ],
)
def test_the_legacy_token_may_name_the_operators_origin_or_cloudflare(settings, kind: str, base_url: str) -> None:  # type: ignore[no-untyped-def]
    settings.CLOUDFLARE_API_BASE_URL = OPERATORS_BASE

    Provider(name="cf", kind=kind, base_url=base_url, api_token_env=LEGACY_TOKEN_ENV).full_clean()


@pytest.mark.parametrize("kind", ["workers_ai", "openai_compatible"])
@pytest.mark.parametrize(
    "base_url",
    [
        "https://attacker.example/client/v4",
        "http://api.cloudflare.com/client/v4",  # plain http: readable on the way
        "https://cf-proxy.internal:8080/client/v4",  # the operator's host, another scheme
        "http://cf-proxy.internal:8081/client/v4",  # …another port
        "https://api.cloudflare.com.attacker.example/client/v4",
        "https://api.cloudflare.com@attacker.example/client/v4",
    ],
)
def test_the_legacy_token_refuses_any_other_base_url(settings, kind: str, base_url: str) -> None:  # type: ignore[no-untyped-def]
    settings.CLOUDFLARE_API_BASE_URL = OPERATORS_BASE

    with pytest.raises(ValidationError) as refused:
        Provider(name="elsewhere", kind=kind, base_url=base_url, api_token_env=LEGACY_TOKEN_ENV).full_clean()

    assert "goes only to Cloudflare's API" in refused.value.message_dict["api_token_env"][0]
    # Another source of token is accepted there: the rule is about the machine's Cloudflare token.
    Provider(name="elsewhere", kind=kind, base_url=base_url, api_token_env="GATEWAY_PROVIDER_ELSEWHERE").full_clean()


def test_a_blank_base_url_takes_the_legacy_token(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CLOUDFLARE_API_BASE_URL = OPERATORS_BASE

    Provider(name="env", kind="workers_ai", base_url="", api_token_env=LEGACY_TOKEN_ENV).full_clean()


@pytest.mark.parametrize("source", ["settings", "environment"])
def test_a_row_forced_past_the_rule_never_sends_the_legacy_token(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, settings, monkeypatch, source
) -> None:
    # The row points at the emulator with CLOUDFLARE_API_TOKEN, written past clean() (a shell, or a
    # row saved before the rule), as an admin user's base URL would be.
    Provider.objects.filter(name="workers-ai").update(
        api_token_env=LEGACY_TOKEN_ENV, api_token="", updated_at=timezone.now()
    )
    route_snapshot.invalidate()
    if source == "settings":  # as CLOUDFLARE_API_TOKEN_FILE gives it
        settings.CLOUDFLARE_API_TOKEN = EMULATOR_TOKEN
    else:
        monkeypatch.setenv(LEGACY_TOKEN_ENV, EMULATOR_TOKEN)
    settings.CLOUDFLARE_API_BASE_URL = "https://api.cloudflare.com/client/v4"

    refused = chat(gateway_url, api_key, "to a host the operator did not name")

    assert error_of(refused, 502)["code"] == "upstream_auth_failed"
    assert not any(EMULATOR_TOKEN in value for request in routes.requests for value in request.headers.values())

    # The control: once the operator's own setting names the emulator's origin, the token goes.
    settings.CLOUDFLARE_API_BASE_URL = routes.base_url
    assert chat(gateway_url, api_key, "to the operator's upstream").status_code == 200
    assert routes.last_request.headers["authorization"] == f"Bearer {EMULATOR_TOKEN}"


# --- a stored token stays with its origin -------------------------------------------------------


def test_moving_the_base_url_elsewhere_clears_the_stored_token(routes, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="gateway.provider_models")
    provider = Provider.objects.get(name="workers-ai")
    assert provider.api_token == EMULATOR_TOKEN

    provider.base_url = COLLECTOR
    provider.save()

    assert stored() == "" and provider.api_token == ""
    (warning,) = cleared_warnings(caplog)
    assert "Provider workers-ai" in warning and EMULATOR_TOKEN not in warning


def test_a_new_path_on_the_same_origin_keeps_it(routes, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="gateway.provider_models")
    provider = Provider.objects.get(name="workers-ai")
    origin = provider.base_url.split("/", 3)[:3]

    provider.base_url = "/".join([*origin, "openai/v1"])  # what as_openai_compatible does
    provider.save()

    assert Provider.objects.get(pk=provider.pk).api_token == EMULATOR_TOKEN
    assert cleared_warnings(caplog) == []


def test_a_token_entered_with_the_move_is_kept(routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")

    provider.base_url, provider.api_token = COLLECTOR, "the-collectors-own-token"
    provider.save()

    assert Provider.objects.get(pk=provider.pk).api_token == "the-collectors-own-token"


def test_a_blank_base_url_is_the_environments_origin(routes, settings) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    settings.CLOUDFLARE_API_BASE_URL = provider.base_url.rsplit("/", 2)[0] + "/client/v4"

    provider.base_url = ""  # the same origin, through the environment
    provider.save()
    assert Provider.objects.get(pk=provider.pk).api_token == EMULATOR_TOKEN

    settings.CLOUDFLARE_API_BASE_URL = OPERATORS_BASE  # elsewhere: another origin from the row's
    provider.base_url = routes.base_url
    provider.save()
    assert stored() == ""


def test_saving_only_the_base_url_field_clears_it_too(routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")

    provider.base_url = COLLECTOR
    provider.save(update_fields=["base_url"])

    assert stored() == ""


def test_a_variable_is_the_operators_choice_and_stays(routes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    provider.api_token_env = "GATEWAY_PROVIDER_EMULATOR_TOKEN"
    provider.save()

    provider.base_url = COLLECTOR
    provider.save()

    after = Provider.objects.get(pk=provider.pk)
    assert (after.api_token_env, after.api_token) == ("GATEWAY_PROVIDER_EMULATOR_TOKEN", "")


def test_the_admin_says_so_and_a_blank_token_field_is_no_new_token(operator, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    url = f"/admin/gateway/provider/{provider.pk}/change/"
    assert "Changing its scheme, host or port clears the stored API token" in operator.get(url).content.decode()
    form = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": COLLECTOR,
        "account_id": provider.account_id,
        "api_token_env": "",
        "api_token": "",  # an untouched password field
        "connect_timeout": 5,
        "read_timeout": 10,
        "extra_headers": "{}",
        "enabled": "on",
    }

    assert operator.post(url, form).status_code == 302

    assert stored() == ""
    assert "None is stored." in operator.get(url).content.decode()


def test_import_routes_clears_it_when_the_origin_changes(tmp_path: Path, transactional_db: None) -> None:
    def imported(base_url: str) -> None:
        path = tmp_path / "routes.yaml"
        path.write_text(
            f'providers:\n  - {{name: local-vllm, kind: openai_compatible, base_url: "{base_url}", api_key_env: ""}}\n'
            "routes:\n  - {public_name: gpt-4, task: chat, provider: local-vllm, upstream_model: llama}\n"
        )
        call_command("import_routes", str(path), stdout=StringIO())

    imported("http://127.0.0.1:9000/v1")
    provider = Provider.objects.get(name="local-vllm")
    provider.api_token = "vllm-token"
    provider.save()

    imported("http://127.0.0.1:9000/openai/v1")  # the same origin
    assert Provider.objects.get(pk=provider.pk).api_token == "vllm-token"
    imported("http://127.0.0.1:9001/v1")  # another port
    assert stored("local-vllm") == ""


# --- extra headers carry no credentials ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Proxy-Authorization", "Cookie", "api-key", "X-API-Key", "x-goog-api-key"])
def test_extra_headers_refuse_credentials(name: str, transactional_db: None) -> None:
    with pytest.raises(ValidationError) as refused:
        Provider(name="headers", api_token_env="", extra_headers={name: "secret-value"}).full_clean()

    (message,) = refused.value.message_dict["extra_headers"]
    assert message.startswith(f"{name} carries a credential")
    assert "GATEWAY_PROVIDER_" in message and "stored, encrypted token" in message
    assert "secret-value" not in message


def test_the_admin_form_shows_the_refusal(operator, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    url = f"/admin/gateway/provider/{provider.pk}/change/"
    form = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "account_id": provider.account_id,
        "api_token_env": "",
        "api_token": "",
        "connect_timeout": 5,
        "read_timeout": 10,
        "extra_headers": '{"X-Team": "search", "x-api-key": "sk-in-plaintext"}',
        "enabled": "on",
    }

    refused = operator.post(url, form)

    assert refused.status_code == 200
    (error,) = refused.context["adminform"].form.errors["extra_headers"]
    assert error.startswith("x-api-key carries a credential")
    assert Provider.objects.get(pk=provider.pk).extra_headers == {}
    form["extra_headers"] = '{"X-Team": "search"}'
    assert operator.post(url, form).status_code == 302
    assert Provider.objects.get(pk=provider.pk).extra_headers == {"X-Team": "search"}
