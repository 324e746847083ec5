"""Retention for the usage ledger: records older than N days become daily roll-ups, or go.

Rolled up (the default), a UTC day's records are summed per key, endpoint, public and upstream
model, status and cached-or-not into UsageRollup rows, and deleted in the same transaction, so
every total (/v1/usage, quotas) stays the same while the per-request detail goes. Each day is its
own transaction; a day rolled up twice (late records, a second run) adds to its existing rows.
`--delete` drops the records without keeping totals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from gateway.models import UsageRecord, UsageRollup

_GROUP = ("api_key_id", "key_prefix", "endpoint", "public_model", "upstream_model", "provider", "status", "cached")
_SUMS = {
    "requests": Count("id"),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "total_tokens": Coalesce(Sum("total_tokens"), 0),
    "audio_seconds": Coalesce(Sum("audio_seconds"), 0.0),
    "characters": Coalesce(Sum("characters"), 0),
    "images": Coalesce(Sum("images"), 0),
    "cost_usd": Coalesce(Sum("cost_usd"), Decimal(0)),  # unknown costs are counted apart, below
    "cost_saved_usd": Coalesce(Sum("cost_saved_usd"), Decimal(0)),
    "estimated_requests": Count("id", filter=Q(usage_estimated=True)),
    "unpriced_requests": Count("id", filter=Q(cost_usd__isnull=True)),
}


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def roll_up_day(day: date) -> tuple[int, int]:
    """Fold one UTC day's records into roll-ups and delete them; (records, roll-up rows touched)."""
    start, end = _bounds(day)
    with transaction.atomic():
        records = UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
        # Named apart from the fields: a Sum named `cost_usd` is what a later filter on it would read.
        annotations = {f"sum_{name}": expression for name, expression in _SUMS.items()}
        groups = list(records.order_by().values(*_GROUP).annotate(**annotations))
        for group in groups:
            key = {name: group[name] for name in _GROUP}
            sums = {name: group[f"sum_{name}"] for name in _SUMS}
            added = UsageRollup.objects.filter(day=day, **key).update(**{name: F(name) + sums[name] for name in sums})
            if not added:
                UsageRollup.objects.create(day=day, **key, **sums)
        deleted, _ = records.delete()
    return deleted, len(groups)


class Command(BaseCommand):
    help = "Roll up (or delete) usage records older than --days days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=90, help="Keep this many whole UTC days (default 90).")
        parser.add_argument("--delete", action="store_true", help="Delete old records without rolling them up.")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done; change nothing.")

    def handle(self, *args: Any, days: int, delete: bool, dry_run: bool, **options: Any) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1.")
        cutoff = datetime.now(UTC).date() - timedelta(days=days)
        old = UsageRecord.objects.filter(created_at__lt=_bounds(cutoff)[0])
        if dry_run:
            action = "delete" if delete else "roll up"
            self.stdout.write(f"prune_usage: would {action} {old.count()} record(s) from before {cutoff}.")
            return
        if delete:
            deleted, _ = old.delete()
            self.stdout.write(f"prune_usage: deleted {deleted} record(s) from before {cutoff}.")
            return
        total = rows = 0
        for midnight in old.datetimes("created_at", "day", tzinfo=UTC):  # only days that have records
            deleted, touched = roll_up_day(midnight.date())
            total, rows = total + deleted, rows + touched
        self.stdout.write(f"prune_usage: rolled up {total} record(s) from before {cutoff} into {rows} daily row(s).")
