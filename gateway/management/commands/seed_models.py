"""Install the default provider and model mappings; idempotent, and never undoes an admin edit.

A (public name, task) that already has any route is left alone, so an operator's remap of gpt-4
survives re-seeding. A seeded second route (catalog/seed.py SECOND_ROUTES) is created only in the
run that creates its name's first route (a fresh install): `manage.py serve` seeds at every start,
and an operator who deleted the second route must not get it back. Installations seeded before the
second route existed gain it once, from migration gateway/0011_gpt_4o_text_route.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from gateway.accounting.pricing import ensure_prices
from gateway.catalog.seed import MAPPINGS, SECOND_ROUTES, UPSTREAM_MODELS, WHISPER_TURBO, UpstreamModel
from gateway.models import ModelRoute, Provider

DEFAULT_PROVIDER = "workers-ai"


def default_provider() -> Provider:
    provider, _ = Provider.objects.get_or_create(name=DEFAULT_PROVIDER, defaults={"kind": Provider.Kind.WORKERS_AI})
    return provider


def ensure_route(provider: Provider, public_name: str, task: str, model: UpstreamModel) -> bool:
    if ModelRoute.objects.filter(public_name=public_name, task=task).exists():
        return False
    _create(provider, public_name, task, model, priority=0)
    return True


def ensure_mappings(provider: Provider) -> set[tuple[str, str]]:
    """The seeded names' first routes; the (public name, task) pairs created by this run."""
    return {(name, task) for name, task, model in MAPPINGS if ensure_route(provider, name, task, model)}


def add_second_routes(provider: Provider, fresh: set[tuple[str, str]]) -> int:
    """Second routes behind the names whose first route this run created (`fresh`); how many."""
    created = 0
    for public_name, task, model in SECOND_ROUTES:
        if (public_name, task) in fresh:
            _create(provider, public_name, task, model, priority=1)
            created += 1
    return created


def _create(provider: Provider, public_name: str, task: str, model: UpstreamModel, *, priority: int) -> None:
    ModelRoute.objects.create(
        public_name=public_name,
        task=task,
        upstream_model=model.name,
        provider=provider,
        context_window=model.context_window,
        supports_tools=model.tools,
        supports_vision=model.vision,
        supports_json_mode=model.json_mode,
        reasoning=model.reasoning,
        output_dimensions=model.dimensions,
        priority=priority,
    )


class Command(BaseCommand):
    help = "Create the default Workers AI provider and the OpenAI → Workers AI model mappings."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            provider = default_provider()
            fresh = ensure_mappings(provider)
            created = len(fresh)
            created += sum(ensure_route(provider, model.name, model.task, model) for model in UPSTREAM_MODELS)
            created += ensure_route(provider, WHISPER_TURBO.name, "translation", WHISPER_TURBO)
            created += add_second_routes(provider, fresh)
            priced = ensure_prices([model.name for model in UPSTREAM_MODELS])
        total = ModelRoute.objects.count()
        self.stdout.write(f"seed_models: {created} route(s) created, {total} in total; {priced} price row(s) created.")
