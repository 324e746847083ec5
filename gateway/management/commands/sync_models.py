"""Pull the upstream catalogue (/ai/models/search) into model routes.

Every catalogue model of a task the gateway serves gets a raw-name route ("@cf/…"); every route
pointing at a catalogue model gets its context window and function-calling capability refreshed.
The `reasoning` flag (output opens inside <think>) is not something the catalogue says, so it is
left to seed_models and the admin.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from gateway.catalog import routes
from gateway.management.commands.seed_models import DEFAULT_PROVIDER
from gateway.models import ModelRoute, Provider, Task
from gateway.providers.base import CatalogueModel, ProviderError
from gateway.providers.registry import provider_for


def _apply(provider: Provider, model: CatalogueModel) -> bool:
    refreshed = {"supports_tools": model.function_calling}
    if model.context_window:
        refreshed["context_window"] = model.context_window
    if model.vision:
        refreshed["supports_vision"] = True
    ModelRoute.objects.filter(provider=provider, upstream_model=model.name).update(**refreshed)
    _, created = ModelRoute.objects.get_or_create(
        public_name=model.name,
        task=model.task,
        provider=provider,
        upstream_model=model.name,
        defaults=refreshed,
    )
    return created


class Command(BaseCommand):
    help = "Sync model routes from the upstream model catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", default=DEFAULT_PROVIDER, help="Provider name.")

    def handle(self, *args: Any, **options: Any) -> None:
        provider = Provider.objects.filter(name=options["provider"]).first()
        if provider is None:
            raise CommandError(f"No provider named '{options['provider']}'; run seed_models first.")
        try:
            catalogue = provider_for(provider.config()).list_models()
        except ProviderError as exc:
            raise CommandError(f"Could not read the catalogue: {exc.message}") from exc
        served = [model for model in catalogue if model.task in Task.values]
        with transaction.atomic():
            created = sum(_apply(provider, model) for model in served)
        # Refreshes go through update(), which sends no post_save: drop the cached route table here.
        routes.invalidate()
        self.stdout.write(
            f"sync_models: {len(catalogue)} catalogue model(s), {len(served)} on served tasks, "
            f"{created} route(s) created."
        )
