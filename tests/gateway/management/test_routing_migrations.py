"""Migration 0009 (roll-ups by provider, routes and attempts on records) reversed and applied again.

Reversing it re-creates 0008's unique constraint on roll-ups, which has no provider: rows that
differ only by provider are summed into one first, or the constraint could not be created.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.models import UsageRollup

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("gateway", "0008_admin_labels")
DAY = date(2026, 1, 5)
SUMMED = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "audio_seconds",
    "characters",
    "images",
    "cost_usd",
    "cost_saved_usd",
    "estimated_requests",
    "unpriced_requests",
)


def rollup(provider: str, scale: int, **fields: object) -> UsageRollup:
    return UsageRollup.objects.create(
        day=DAY,
        endpoint=fields.pop("endpoint", "chat.completions"),
        public_model="gpt-4",
        upstream_model="llama",
        provider=provider,
        status=200,
        requests=scale,
        prompt_tokens=10 * scale,
        completion_tokens=20 * scale,
        total_tokens=30 * scale,
        audio_seconds=1.5 * scale,
        characters=4 * scale,
        images=5 * scale,
        cost_usd=Decimal("0.0001") * scale,
        cost_saved_usd=Decimal("0.002") * scale,
        estimated_requests=scale,
        unpriced_requests=2 * scale,
        **fields,
    )


def amounts(row: object) -> tuple[object, ...]:
    return tuple(getattr(row, name) for name in SUMMED)


def test_reversing_merges_rollups_that_differ_only_by_provider_and_it_applies_again() -> None:
    rollup("workers-ai", 1)
    rollup("local-vllm", 2)
    rollup("", 4)  # a row from before providers were recorded, of the same group
    alone = rollup("openai", 8, endpoint="embeddings")
    try:
        call_command("migrate", "gateway", BEFORE[1], verbosity=0)

        Old = MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("gateway", "UsageRollup")
        rows = {row.endpoint: row for row in Old.objects.all()}
        assert sorted(rows) == ["chat.completions", "embeddings"]
        assert amounts(rows["chat.completions"]) == (
            7, 70, 140, 210, 10.5, 28, 35, Decimal("0.0007"), Decimal("0.014"), 7, 14,
        )  # fmt: skip
        assert amounts(rows["embeddings"]) == amounts(alone)

        call_command("migrate", "gateway", verbosity=0)
    finally:
        call_command("migrate", "gateway", verbosity=0)  # never leave the test database at 0008

    merged = UsageRollup.objects.get(endpoint="chat.completions")
    assert (merged.provider, merged.requests, merged.cost_usd) == ("", 7, Decimal("0.0007"))
    assert UsageRollup.objects.get(endpoint="embeddings").requests == 8
