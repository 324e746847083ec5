"""Retention for generated images: jobs (and their files) older than N days are deleted.

The usage records of their requests stay in the ledger; a link or job id of a pruned image then
answers 404. Run it daily (cron), like prune_usage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from images import storage
from images.models import ImageRequest


class Command(BaseCommand):
    help = "Delete generated images, and their jobs, older than --days days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Keep this many days (default GATEWAY_IMAGE_RETENTION_DAYS)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be deleted; delete nothing.")

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.GATEWAY_IMAGE_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        # Requests whose jobs are all over: one still running keeps its files, however old.
        old = ImageRequest.objects.filter(created_at__lt=cutoff, pending=0)
        names = [name for name in old.values_list("jobs__file_name", flat=True) if name]
        if dry_run:
            self.stdout.write(f"prune_images: would delete {old.count()} request(s) and {len(names)} image(s).")
            return
        for name in names:
            storage.delete_image(name)  # files first: a row never points at nothing for long
        requests, _ = old.delete()
        self.stdout.write(f"prune_images: deleted {len(names)} image(s) from requests before {cutoff:%Y-%m-%d}.")
