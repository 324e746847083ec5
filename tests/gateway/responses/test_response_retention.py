"""Retention of stored responses: past GATEWAY_RESPONSE_RETENTION_DAYS a response is gone for
clients at once, and `manage.py prune_responses` deletes its row."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import openai
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from gateway.models import StoredResponse

pytestmark = pytest.mark.django_db(transaction=True)


def age(response_id: str, days: float) -> None:
    StoredResponse.objects.filter(pk=response_id).update(created_at=timezone.now() - timedelta(days=days))


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_responses", *args, stdout=out)
    return out.getvalue()


def test_an_expired_response_answers_404_before_any_prune(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 7
    kept = openai_client.responses.create(model="gpt-4", input="Recent")
    old = openai_client.responses.create(model="gpt-4", input="Old")
    age(old.id, 8)

    assert openai_client.responses.retrieve(kept.id).id == kept.id
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(old.id)
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.create(model="gpt-4", input="Go on", previous_response_id=old.id)
    assert caught.value.body["code"] == "previous_response_not_found"
    assert StoredResponse.objects.filter(pk=old.id).exists()  # hidden, not yet deleted


def test_prune_deletes_only_expired_responses(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 30
    ids = [openai_client.responses.create(model="gpt-4", input=f"Turn {n}").id for n in range(3)]
    age(ids[0], 31)
    age(ids[1], 45)

    assert prune("--dry-run").startswith("prune_responses: would delete 2 response(s)")
    assert StoredResponse.objects.count() == 3
    assert prune().startswith("prune_responses: deleted 2 response(s)")

    assert list(StoredResponse.objects.values_list("pk", flat=True)) == [ids[2]]
    assert openai_client.responses.retrieve(ids[2]).output_text == "Hello! You said: Turn 2"


def test_days_on_the_command_line_win(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 30
    created = openai_client.responses.create(model="gpt-4", input="Three days old")
    age(created.id, 3)

    assert prune("--days", "5").startswith("prune_responses: deleted 0 response(s)")
    assert prune("--days", "2").startswith("prune_responses: deleted 1 response(s)")
    assert not StoredResponse.objects.exists()
    with pytest.raises(CommandError, match="at least 1"):
        prune("--days", "0")


def test_retention_zero_keeps_responses(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 0
    created = openai_client.responses.create(model="gpt-4", input="Forever")
    age(created.id, 4000)

    assert openai_client.responses.retrieve(created.id).id == created.id
    assert "responses are kept" in prune()
    assert StoredResponse.objects.filter(pk=created.id).exists()


def test_a_conversation_continues_from_the_turns_left_after_a_prune(openai_client, routes, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GATEWAY_RESPONSE_RETENTION_DAYS = 30
    first = openai_client.responses.create(model="gpt-4", input="First turn")
    second = openai_client.responses.create(model="gpt-4", input="Second turn", previous_response_id=first.id)
    age(first.id, 40)
    prune()

    third = openai_client.responses.create(model="gpt-4", input="Third turn", previous_response_id=second.id)

    assert third.output_text == "Hello! You said: Third turn"
    sent = [message["content"] for message in routes.last_request.json["messages"]]
    assert sent == ["Second turn", "Hello! You said: Second turn", "Third turn"]
