"""create_api_key NAME [--owner USERNAME] [--rpm N] [--tpm N] [--models a,b] [--expires-days N]
                   [--quota-tokens N] [--quota-usd X] [--quota-period day|month]

Prints the plaintext key alone on the last line of stdout; it is not stored and not shown again.
"""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from gateway.models import ApiKey


def positive_int(value: str) -> int:
    # 0 would read as "unset" below (a key that never expires), a negative value as a database error.
    number = int(value)
    if number < 1:
        raise ArgumentTypeError(f"must be a positive integer, not {value}")
    return number


class Command(BaseCommand):
    help = "Issue an API key. The owner (a Django user, created if absent) defaults to NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", help="Username owning the key (default: NAME).")
        parser.add_argument("--rpm", type=positive_int, help="Requests per minute.")
        parser.add_argument("--tpm", type=positive_int, help="Tokens per minute.")
        parser.add_argument("--models", help="Comma-separated public model names (default: all).")
        parser.add_argument("--expires-days", type=positive_int, help="Expire after N days.")
        parser.add_argument("--quota-tokens", type=positive_int, help="Token budget per quota period.")
        parser.add_argument("--quota-usd", type=Decimal, help="Cost budget (USD) per quota period.")
        parser.add_argument(
            "--quota-period", choices=ApiKey.QuotaPeriod.values, default=ApiKey.QuotaPeriod.MONTH, help="UTC."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner, _ = get_user_model().objects.get_or_create(username=options["owner"] or options["name"])
        models = [name.strip() for name in (options["models"] or "").split(",") if name.strip()]
        key = ApiKey(
            name=options["name"],
            owner=owner,
            rpm_limit=options["rpm"],
            tpm_limit=options["tpm"],
            allowed_models=models,
            quota_tokens=options["quota_tokens"],
            quota_usd=options["quota_usd"],
            quota_period=options["quota_period"],
            expires_at=timezone.now() + timedelta(days=options["expires_days"]) if options["expires_days"] else None,
        )
        plaintext = key.issue()
        key.save()
        self.stdout.write(f"Created key '{key.name}' ({key.prefix}…) for user '{owner.username}'.")
        self.stdout.write(plaintext)
