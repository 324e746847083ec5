"""A provider's stored token is Fernet ciphertext in its column, under GATEWAY_SECRETS_KEY.

The gateway still calls the upstream with the plaintext; old keys in the fallbacks decrypt; a key
that opens nothing leaves the provider without a token (a clear 502, one warning), never a 500
and never the ciphertext upstream; the admin takes the token write-only; fixtures (dumpdata) hold
the ciphertext.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
import requests
from conftest import EMULATOR_TOKEN, error_of
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.models import Provider, forget_stored_token

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("gateway", "0009_routing_and_attempts")
OLD_KEY = "old-secrets-key-5b1d"
NEW_KEY = "new-secrets-key-9c2e"


def stored(name: str = "workers-ai") -> str:
    """The column as the database holds it, past the model field."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_token FROM gateway_provider WHERE name = %s", [name])
        return cursor.fetchone()[0]


def opened(raw: str, secret: str) -> str:
    """The documented scheme, rebuilt apart from the gateway: "fernet:" + Fernet under
    HKDF-SHA256(secret, info="ai-gateway provider api tokens v1"); raises InvalidToken otherwise."""
    assert raw.startswith("fernet:")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ai-gateway provider api tokens v1")
    key = base64.urlsafe_b64encode(hkdf.derive(secret.encode()))
    return Fernet(key).decrypt(raw.removeprefix("fernet:").encode()).decode()


def chat(gateway_url: str, key: str, text: str) -> requests.Response:
    # A different text each time: the response cache never answers in the upstream's place.
    return requests.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def sent_authorizations(upstream: Any) -> list[str]:
    return [request.headers.get("authorization", "") for request in upstream.requests]


def test_the_column_holds_ciphertext_and_the_gateway_sends_the_plaintext(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, settings
) -> None:
    raw = stored()

    assert EMULATOR_TOKEN not in raw
    assert opened(raw, settings.GATEWAY_SECRETS_KEY) == EMULATOR_TOKEN
    assert Provider.objects.get(name="workers-ai").api_token == EMULATOR_TOKEN
    assert chat(gateway_url, api_key, "hi").status_code == 200
    assert sent_authorizations(routes) == [f"Bearer {EMULATOR_TOKEN}"]


def test_each_write_encrypts_afresh_and_update_encrypts_too(routes, settings) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    first = stored()
    provider.save()
    assert stored() != first  # a fresh IV each save…
    assert opened(stored(), settings.GATEWAY_SECRETS_KEY) == EMULATOR_TOKEN  # …the same token

    Provider.objects.filter(pk=provider.pk).update(api_token="set-by-update")
    assert opened(stored(), settings.GATEWAY_SECRETS_KEY) == "set-by-update"
    Provider.objects.filter(pk=provider.pk).update(api_token="")
    assert stored() == ""  # nothing stored is stored as nothing


def test_a_row_saved_before_encryption_still_reads(routes) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE gateway_provider SET api_token = %s WHERE name = 'workers-ai'", ["legacy-plain"])

    assert Provider.objects.get(name="workers-ai").api_token == "legacy-plain"


def test_old_keys_in_the_fallbacks_decrypt_and_the_current_key_encrypts(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, settings
) -> None:
    provider = Provider.objects.get(name="workers-ai")  # read under the key it was saved with
    settings.GATEWAY_SECRETS_KEY = OLD_KEY
    provider.save()
    under_old = stored()
    assert opened(under_old, OLD_KEY) == EMULATOR_TOKEN

    settings.GATEWAY_SECRETS_KEY = NEW_KEY
    settings.GATEWAY_SECRETS_KEY_FALLBACKS = ["unrelated-key", OLD_KEY]
    forget_stored_token(provider.pk)  # this process's copy, as if it had just started with the new key
    assert chat(gateway_url, api_key, "rotated").status_code == 200
    assert stored() == under_old  # reading leaves the row as it was

    Provider.objects.get(pk=provider.pk).save()  # a save re-encrypts under the current key
    assert opened(stored(), NEW_KEY) == EMULATOR_TOKEN
    with pytest.raises(InvalidToken):
        opened(stored(), OLD_KEY)
    settings.GATEWAY_SECRETS_KEY_FALLBACKS = []  # so the old key can go
    assert chat(gateway_url, api_key, "old key gone").status_code == 200
    assert sent_authorizations(routes) == [f"Bearer {EMULATOR_TOKEN}"] * 2


def test_a_lost_key_leaves_the_provider_without_a_token_and_warns_once(  # type: ignore[no-untyped-def]
    gateway_url, api_key, routes, settings, operator, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.provider_models")
    provider = Provider.objects.get(name="workers-ai")
    ciphertext, right_key = stored(), settings.GATEWAY_SECRETS_KEY
    settings.GATEWAY_SECRETS_KEY = "a-key-that-opens-nothing"
    forget_stored_token(provider.pk)

    refusals = [chat(gateway_url, api_key, f"attempt {i}") for i in range(2)]

    for refused in refusals:
        assert error_of(refused, 502)["code"] == "upstream_auth_failed"
    sent = [value for request in routes.requests for value in request.headers.values()]
    assert not any("fernet:" in value or ciphertext[7:40] in value for value in sent)
    warnings = [record.getMessage() for record in caplog.records if record.name == "gateway.provider_models"]
    assert len(warnings) == 1
    assert "Provider workers-ai" in warnings[0] and "GATEWAY_SECRETS_KEY" in warnings[0]
    assert ciphertext not in warnings[0]

    # The admin shows the state and a save keeps the ciphertext, so the right key brings it back.
    listing = operator.get("/admin/gateway/provider/").content.decode()
    assert "stored, cannot be decrypted" in listing
    page = operator.get(f"/admin/gateway/provider/{provider.pk}/change/")
    assert page.status_code == 200 and "cannot be decrypted" in page.content.decode()
    assert operator.post(f"/admin/gateway/provider/{provider.pk}/change/", form(provider)).status_code == 302
    assert stored() == ciphertext
    settings.GATEWAY_SECRETS_KEY_FALLBACKS = [right_key]
    assert chat(gateway_url, api_key, "key restored").status_code == 200
    assert sent_authorizations(routes) == [f"Bearer {EMULATOR_TOKEN}"]


def test_the_migration_encrypts_plaintext_rows_and_reverses(transactional_db, settings) -> None:  # type: ignore[no-untyped-def]
    call_command("migrate", "gateway", BEFORE[1], verbosity=0)
    try:
        Historical = MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("gateway", "Provider")
        Historical.objects.create(name="plain", api_token="plain-token")
        Historical.objects.create(name="empty", api_token="")
        call_command("migrate", "gateway", verbosity=0)

        assert opened(stored("plain"), settings.GATEWAY_SECRETS_KEY) == "plain-token"
        assert stored("empty") == ""
        assert Provider.objects.get(name="plain").api_token == "plain-token"

        call_command("migrate", "gateway", BEFORE[1], verbosity=0)
        assert (stored("plain"), stored("empty")) == ("plain-token", "")
    finally:
        call_command("migrate", "gateway", verbosity=0)
    assert stored("plain").startswith("fernet:")


# --- the admin ----------------------------------------------------------------------------------


def form(provider: Provider, **changes: object) -> dict[str, object]:
    fields = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "account_id": provider.account_id,
        "api_token_env": provider.api_token_env,
        "api_token": "",  # what a browser sends back for an untouched password field
        "connect_timeout": provider.connect_timeout,
        "read_timeout": provider.read_timeout,
        "extra_headers": "{}",
        "enabled": "on",
    }
    return {**fields, **changes}


def test_the_change_page_shows_neither_the_token_nor_its_ciphertext(operator, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")

    page = operator.get(f"/admin/gateway/provider/{provider.pk}/change/").content.decode()

    assert 'type="password" name="api_token"' in page and 'autocomplete="new-password"' in page
    assert "A token is stored (encrypted). Leave blank to keep it." in page
    assert 'name="clear_api_token"' in page
    assert EMULATOR_TOKEN not in page
    assert stored()[7:] not in page and "fernet:" not in page


def test_blank_keeps_a_new_token_replaces_and_the_box_clears(operator, routes, settings) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    url = f"/admin/gateway/provider/{provider.pk}/change/"

    assert operator.post(url, form(provider, read_timeout=9)).status_code == 302
    assert opened(stored(), settings.GATEWAY_SECRETS_KEY) == EMULATOR_TOKEN

    assert operator.post(url, form(provider, api_token="replaced-token")).status_code == 302
    assert opened(stored(), settings.GATEWAY_SECRETS_KEY) == "replaced-token"

    both = operator.post(url, form(provider, api_token="another", clear_api_token="on"))
    assert both.status_code == 200
    assert both.context["adminform"].form.errors["api_token"] == [
        "Enter a new token or clear the stored one, not both."
    ]
    assert opened(stored(), settings.GATEWAY_SECRETS_KEY) == "replaced-token"

    assert operator.post(url, form(provider, clear_api_token="on")).status_code == 302
    assert stored() == ""
    page = operator.get(url).content.decode()
    assert "None is stored." in page


def test_an_openai_compatible_provider_needs_its_base_url_on_the_field(operator, routes, settings) -> None:  # type: ignore[no-untyped-def]
    page = operator.get("/admin/gateway/provider/add/").content.decode()
    assert "Cloudflare Workers AI" in page and "OpenAI-compatible" in page
    assert "the part before /chat/completions, e.g. https://api.openai.com/v1" in page
    assert 'name="clear_api_token"' not in page  # nothing stored yet to clear
    new = form(
        Provider(name="openai", kind="openai_compatible", account_id="", api_token_env=""), api_token="sk-upstream-123"
    )

    refused = operator.post("/admin/gateway/provider/add/", new)

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["base_url"] == [
        "An OpenAI-compatible provider needs its base URL (the part before /chat/completions)."
    ]
    assert "sk-upstream-123" not in refused.content.decode()  # not even the one just typed
    new["base_url"] = "https://api.openai.com/v1"
    assert operator.post("/admin/gateway/provider/add/", new).status_code == 302
    assert opened(stored("openai"), settings.GATEWAY_SECRETS_KEY) == "sk-upstream-123"


def test_extra_headers_are_a_json_object_checked_by_the_model(operator, routes) -> None:  # type: ignore[no-untyped-def]
    provider = Provider.objects.get(name="workers-ai")
    url = f"/admin/gateway/provider/{provider.pk}/change/"

    refused = operator.post(url, form(provider, extra_headers='{"Authorization": "Bearer mine"}'))

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["extra_headers"] == ["The gateway sets Authorization itself."]
    assert operator.post(url, form(provider, extra_headers='{"X-Team": "search"}')).status_code == 302
    assert Provider.objects.get(pk=provider.pk).extra_headers == {"X-Team": "search"}
    assert operator.post(url, form(provider, extra_headers="")).status_code == 302
    assert Provider.objects.get(pk=provider.pk).extra_headers == {}


def test_the_list_names_each_token_source(operator, routes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GATEWAY_PROVIDER_LISTED_TOKEN", "from-the-environment")
    Provider.objects.create(name="from-env", api_token_env="GATEWAY_PROVIDER_LISTED_TOKEN", api_token="shadowed")
    Provider.objects.create(
        name="tokenless", kind="openai_compatible", base_url="http://llm.internal/v1", api_token_env=""
    )

    rows = {
        row.split("</a></th>")[0].rsplit(">", 1)[-1]: row
        for row in operator.get("/admin/gateway/provider/").content.decode().split("<tr")
        if 'class="field-name"' in row
    }

    assert "stored (encrypted)" in rows["workers-ai"]
    assert "env GATEWAY_PROVIDER_LISTED_TOKEN" in rows["from-env"] and "environment" in rows["from-env"]
    assert ">none<" in rows["tokenless"] and "http://llm.internal/v1" in rows["tokenless"]
    assert "from-the-environment" not in "".join(rows.values()) and "shadowed" not in "".join(rows.values())


# --- fixtures (dumpdata, loaddata) --------------------------------------------------------------


def test_dumpdata_writes_ciphertext_and_loaddata_stores_it_once(routes, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    current = settings.GATEWAY_SECRETS_KEY
    settings.GATEWAY_SECRETS_KEY = OLD_KEY
    Provider.objects.create(name="old-key", api_token_env="", api_token="under-the-old-key")
    settings.GATEWAY_SECRETS_KEY = current  # the old key is gone: that token is unreadable here
    unreadable = stored("old-key")
    fixture = tmp_path / "providers.json"

    with open(fixture, "w") as out:
        call_command("dumpdata", "gateway.provider", stdout=out)

    dumped = {row["fields"]["name"]: row["fields"]["api_token"] for row in json.loads(fixture.read_text())}
    assert EMULATOR_TOKEN not in fixture.read_text()
    assert opened(dumped["workers-ai"], current) == EMULATOR_TOKEN
    assert dumped["old-key"] == unreadable  # as it is stored, for the key that opens it

    Provider.objects.update(api_token="overwritten")
    call_command("loaddata", str(fixture), verbosity=0)

    assert opened(stored(), current) == EMULATOR_TOKEN  # encrypted once, not the ciphertext encrypted
    assert Provider.objects.get(name="workers-ai").api_token == EMULATOR_TOKEN
    assert stored("old-key") == unreadable  # kept as it was…
    settings.GATEWAY_SECRETS_KEY_FALLBACKS = [OLD_KEY]
    assert Provider.objects.get(name="old-key").api_token == "under-the-old-key"  # …so the old key opens it
