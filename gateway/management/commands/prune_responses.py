"""Retention for stored responses (POST /v1/responses with `store`): those older than N days go.

Clients stop seeing a response once it is older than GATEWAY_RESPONSE_RETENTION_DAYS whether or
not this ran (gateway/response_models.py); this frees the rows. Deleted in batches, each its own
statement, so no single DELETE holds locks (or outruns the statement timeout) on a big table. A
conversation whose earlier turns were pruned continues from the turns that are left. Run it daily
(cron), like prune_usage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gateway.models import StoredResponse

BATCH = 5000


class Command(BaseCommand):
    help = "Delete stored responses older than --days days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Keep this many days (default GATEWAY_RESPONSE_RETENTION_DAYS)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be deleted; delete nothing.")

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = settings.GATEWAY_RESPONSE_RETENTION_DAYS
            if days == 0:
                self.stdout.write("prune_responses: GATEWAY_RESPONSE_RETENTION_DAYS is 0: responses are kept.")
                return
        if days < 1:
            raise CommandError("--days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        old = StoredResponse.objects.filter(created_at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"prune_responses: would delete {old.count()} response(s) from before {cutoff:%Y-%m-%d}.")
            return
        total = 0
        while ids := list(old.values_list("pk", flat=True)[:BATCH]):
            deleted, _ = StoredResponse.objects.filter(pk__in=ids).delete()
            total += deleted
        self.stdout.write(f"prune_responses: deleted {total} response(s) from before {cutoff:%Y-%m-%d}.")
