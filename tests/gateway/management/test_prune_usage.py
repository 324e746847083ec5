"""manage.py prune_usage: old records become daily roll-ups, and every total stays the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import requests
from conftest import make_key, usage_records
from django.core.management import CommandError, call_command

from gateway.access.auth import resolve_key
from gateway.models import UsageRecord, UsageRollup

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC)


def record(key: str | None, request_id: str, days_ago: int, **fields: Any) -> UsageRecord:
    principal = resolve_key(key) if key else None
    values: dict[str, Any] = {
        "endpoint": "chat.completions",
        "public_model": "gpt-4",
        "upstream_model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_usd": Decimal("0.001"),
        **fields,
    }
    return UsageRecord.objects.create(
        api_key_id=principal.key_id if principal else None,
        key_prefix=principal.prefix if principal else "",
        request_id=request_id,
        created_at=NOW - timedelta(days=days_ago),
        **values,
    )


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_usage", *args, stdout=out)
    return out.getvalue()


def usage(gateway_url: str, key: str) -> dict[str, Any]:
    start = (NOW - timedelta(days=60)).date().isoformat()
    response = requests.get(
        f"{gateway_url}/v1/usage", params={"start": start}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Without the records of /v1/usage calls themselves (model null), which a test's calls add to.
    return {"totals": body["totals"], "models": [row for row in body["models"] if row["model"]]}


def test_it_rolls_up_old_records_and_keeps_every_total(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("pruned")
    record(key, "req_old_1", 40)
    record(key, "req_old_2", 40, status=500, prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=0)
    record(key, "req_old_3", 40, cached=True, cost_usd=0, cost_saved_usd=Decimal("0.001"))
    record(key, "req_old_4", 41, public_model="gpt-4o-mini", cost_usd=None, usage_estimated=True)
    record(None, "req_old_anon", 40, status=401, endpoint="chat.completions", public_model="")
    record(key, "req_recent", 5)
    before = usage(gateway_url, key)
    usage_records(1, endpoint="usage")  # that call's own record, written after its answer

    out = prune("--days", "30")

    assert "rolled up 5 record(s)" in out
    # Left: the recent record, and the record of the /v1/usage call made before the prune.
    assert set(UsageRecord.objects.exclude(endpoint="usage").values_list("request_id", flat=True)) == {"req_recent"}
    assert UsageRollup.objects.count() == 5  # ok / error / cached of gpt-4, gpt-4o-mini, the key-less 401
    after = usage(gateway_url, key)
    assert after["models"] == before["models"]
    assert {name: value for name, value in after["totals"].items() if name != "requests"} == {
        name: value for name, value in before["totals"].items() if name != "requests"
    }
    assert after["totals"]["requests"] == before["totals"]["requests"] + 1  # the first /v1/usage call
    unpriced = UsageRollup.objects.get(public_model="gpt-4o-mini")
    assert (unpriced.requests, unpriced.unpriced_requests, unpriced.estimated_requests) == (1, 1, 1)


def test_a_second_run_adds_to_the_days_roll_ups(routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("twice")
    record(key, "req_a", 40)
    prune("--days", "30")
    record(key, "req_b", 40)  # arrived late for a day already rolled up
    prune("--days", "30")

    (rollup,) = UsageRollup.objects.all()
    assert (rollup.requests, rollup.total_tokens, rollup.cost_usd) == (2, 30, Decimal("0.002"))
    assert not UsageRecord.objects.exists()


def test_delete_drops_old_records_without_totals(routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("gone")
    record(key, "req_old", 40)
    record(key, "req_recent", 1)

    assert "deleted 1 record(s)" in prune("--days", "30", "--delete")
    assert list(UsageRecord.objects.values_list("request_id", flat=True)) == ["req_recent"]
    assert not UsageRollup.objects.exists()


def test_a_dry_run_changes_nothing(routes) -> None:  # type: ignore[no-untyped-def]
    record(make_key("kept"), "req_old", 40)

    assert "would roll up 1 record(s)" in prune("--days", "30", "--dry-run")
    assert UsageRecord.objects.count() == 1 and not UsageRollup.objects.exists()


def test_it_refuses_fewer_than_one_day(routes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="at least 1"):
        prune("--days", "0")


def test_audio_seconds_characters_and_images_survive_a_roll_up(gateway_url, routes) -> None:  # type: ignore[no-untyped-def]
    key = make_key("units")
    tokens = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    stt = {"endpoint": "audio.transcriptions", "public_model": "whisper-1", **tokens}
    record(key, "req_stt_1", 40, audio_seconds=12.5, **stt)
    record(key, "req_stt_2", 40, audio_seconds=2.25, **stt)
    record(key, "req_tts", 40, endpoint="audio.speech", public_model="tts-1", characters=321, **tokens)
    record(key, "req_img", 40, endpoint="images.generations", public_model="dall-e-2", images=3, **tokens)
    before = usage(gateway_url, key)

    prune("--days", "30")

    after = usage(gateway_url, key)
    assert after["models"] == before["models"]
    by_model = {row["model"]: row for row in after["models"]}
    assert by_model["whisper-1"]["audio_seconds"] == 14.75
    assert by_model["tts-1"]["characters"] == 321
    assert by_model["dall-e-2"]["images"] == 3
    assert after["totals"]["audio_seconds"] == 14.75 and after["totals"]["characters"] == 321
    # The four records only: GET /v1/usage leaves records of its own, today's, as the writer gets to them.
    assert not UsageRecord.objects.filter(request_id__in=["req_stt_1", "req_stt_2", "req_tts", "req_img"]).exists()
