"""Stored responses in the admin: listed with owner, key, status and expiry, shown read-only, and
deleted for the client too."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from django.contrib.admin.utils import quote
from django.utils import timezone

from gateway.models import StoredResponse

pytestmark = pytest.mark.django_db(transaction=True)

# Admin URLs carry primary keys quoted (django.contrib.admin.utils.quote): "_" followed by two hex
# digits would otherwise be read as an escape, and "resp_12…" name another row.


def test_the_changelist_lists_responses_with_their_expiry(operator, openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 30
    fresh = openai_client.responses.create(model="gpt-4", input="Listed")
    old = openai_client.responses.create(model="gpt-4", input="Aged")
    StoredResponse.objects.filter(pk=old.id).update(created_at=timezone.now() - timedelta(days=31))

    page = operator.get("/admin/gateway/storedresponse/").content.decode()

    assert '<table id="result_list"' in page
    assert fresh.id in page and old.id in page
    assert "in 29 day(s)" in page and "expired (prune_responses deletes it)" in page
    assert "completed" in page
    usage = fresh.usage
    assert usage is not None and f"{usage.input_tokens:,} + {usage.output_tokens:,}" in page
    found = operator.get(f"/admin/gateway/storedresponse/?q={fresh.id}").content.decode()
    assert fresh.id in found and old.id not in found


def test_a_response_is_shown_read_only(operator, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Show me", instructions="Be brief")

    page = operator.get(f"/admin/gateway/storedresponse/{quote(created.id)}/change/").content.decode()

    assert "Hello! You said: Show me" in page and "Be brief" in page  # the response object
    assert "&quot;input_text&quot;" in page  # the input items
    assert 'name="_save"' not in page  # no form to change it
    assert operator.get("/admin/gateway/storedresponse/add/").status_code == 403


def test_an_operator_deletes_a_response_for_the_client_too(operator, openai_client, routes) -> None:  # type: ignore[no-untyped-def]
    created = openai_client.responses.create(model="gpt-4", input="Delete me")

    answer = operator.post(f"/admin/gateway/storedresponse/{quote(created.id)}/delete/", {"post": "yes"})

    assert answer.status_code == 302
    assert not StoredResponse.objects.filter(pk=created.id).exists()
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(created.id)
