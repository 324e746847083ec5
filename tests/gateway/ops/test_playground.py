"""The staff playground's page and its short-lived key, as a browser's requests reach them.

The page is HTML outside /admin/, which the suite's response audit (tests/conftest.py) counts as
an offence; `playground_html_allowed` lets exactly that through and still fails on anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from gateway.models import ApiKey
from gateway.testing.response_audit import take_offences, wait_until_idle

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/playground/"
KEY = "/playground/key"
TABS = ("Chat", "Embeddings", "Images", "Speech", "Transcription", "RAG search")


@pytest.fixture(autouse=True)
def playground_html_allowed() -> Iterator[None]:
    """The playground page (and the login redirect in front of it) is HTML by design; any other
    offence still fails the test, as conftest's own check would."""
    yield
    wait_until_idle()
    offences = [o for o in take_offences() if o != f"an HTML body for GET {PAGE}"]
    assert not offences, f"the gateway served: {offences}"


def staff_client(username: str = "pg-staff", *, staff: bool = True, csrf: bool = True) -> tuple[Client, object]:
    user = get_user_model().objects.create_user(username, password="unused-here", is_staff=staff)
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client, user


def test_anonymous_visitors_are_sent_to_the_admin_login() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/playground/")


def test_staff_see_the_page_with_every_tab() -> None:
    client, _ = staff_client()
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    for tab in TABS:
        assert f">{tab}</button>" in html
    assert 'id="pg-key-mint"' in html and "Use a short-lived playground key" in html
    assert response.cookies["csrftoken"].value  # the page sets the cookie its key button needs
    assert "no-cache" in response["Cache-Control"]
    assert "innerHTML" not in html  # everything is put in with textContent


def test_non_staff_users_are_refused() -> None:
    client, user = staff_client("pg-plain", staff=False, csrf=False)
    page = client.get(PAGE)
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    refused = client.post(KEY)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "staff_required"
    assert not ApiKey.objects.filter(owner=user).exists()


def test_anonymous_key_requests_are_refused() -> None:
    refused = Client().post(KEY)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "staff_required"
    assert not ApiKey.objects.exists()


def test_a_key_request_without_the_csrf_token_is_refused() -> None:
    client, user = staff_client()
    client.get(PAGE)  # the cookie alone is not enough: the token must come back in the header
    response = client.post(KEY)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not ApiKey.objects.filter(owner=user).exists()


def test_get_on_the_key_url_is_a_405() -> None:
    client, _ = staff_client()
    response = client.get(KEY)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_staff_get_a_short_lived_key_of_their_own(live_server, routes) -> None:  # type: ignore[no-untyped-def]
    client, user = staff_client()
    token = client.get(PAGE).cookies["csrftoken"].value
    before = timezone.now()
    response = client.post(KEY, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    made = response.json()
    plaintext = made["key"]
    assert plaintext.startswith("sk-gw-") and made["prefix"] == plaintext[:14]
    # The plaintext goes back in the body only: no cookie set, nothing in the session.
    assert not response.cookies
    assert all(plaintext not in str(value) for value in client.session.values())

    key = ApiKey.objects.get(prefix=made["prefix"])
    assert key.owner == user and key.name == "playground"
    assert key.key_hash == ApiKey.hash_key(plaintext)
    assert key.expires_at is not None
    assert before + timedelta(minutes=59) < key.expires_at <= timezone.now() + timedelta(hours=1)

    models = requests.get(f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {plaintext}"}, timeout=10)
    assert models.status_code == 200, models.text
    assert "gpt-3.5-turbo" in {model["id"] for model in models.json()["data"]}

    # Each press makes a new key; both work until they expire.
    second = client.post(KEY, HTTP_X_CSRFTOKEN=token).json()["key"]
    assert second != plaintext
    assert ApiKey.objects.filter(owner=user, name="playground").count() == 2


def test_an_expired_playground_key_is_refused(live_server, routes) -> None:  # type: ignore[no-untyped-def]
    client, _ = staff_client()
    token = client.get(PAGE).cookies["csrftoken"].value
    made = client.post(KEY, HTTP_X_CSRFTOKEN=token).json()
    key = ApiKey.objects.get(prefix=made["prefix"])
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save()  # as the admin saves it: the cached copy follows
    answer = requests.get(
        f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {made['key']}"}, timeout=10
    )
    assert answer.status_code == 401
