"""Applying a route file: what would change (`plan_changes`) and the change itself (`apply`).

Every row is written with save() or delete(), never queryset.update(): their signals drop the
route snapshot (gateway/signals.py), so an import takes effect on the next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Literal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from gateway.catalog import routes
from gateway.catalog.route_file import (
    CAPABILITIES,
    Problem,
    ProviderSpec,
    RouteFile,
    RouteFileError,
    RouteSpec,
    route_label,
)
from gateway.models import ModelRoute, Provider

Action = Literal["create", "update", "delete", "unchanged"]
_PROVIDER_KEYS = {"api_token_env": "api_key_env", "extra_headers": "headers"}  # model field → file key
_ROUTE_KEYS = {flag: "capabilities" for flag in CAPABILITIES.values()}


@dataclass(frozen=True)
class FieldChange:
    key: str  # as the file names it
    old: object
    new: object

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} → {_show(self.new)}"


@dataclass(frozen=True)
class Step:
    action: Action
    label: str  # "provider local-vllm", "route gpt-4 (chat) → local-vllm llama-3.1-8b"
    line: int  # in the file; 0 for a route only the database has (a prune)
    changes: tuple[FieldChange, ...] = ()
    row: Provider | ModelRoute | None = field(default=None, compare=False)  # what apply() saves or deletes

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        changed = ": " + "; ".join(str(change) for change in self.changes) if self.changes else ""
        return f"{self.action} {self.label}{where}{changed}"


@dataclass(frozen=True)
class ImportPlan:
    source: str
    providers: tuple[Step, ...]
    routes: tuple[Step, ...]  # deletes first: apply() runs them in this order

    @property
    def changed(self) -> bool:
        return any(step.action != "unchanged" for step in self.providers + self.routes)

    def summary(self) -> str:
        def count(steps: tuple[Step, ...], action: Action) -> int:
            return sum(step.action == action for step in steps)

        providers = ", ".join(
            f"{count(self.providers, action)} {action}" for action in ("create", "update", "unchanged")
        )
        routes = ", ".join(
            f"{count(self.routes, action)} {action}" for action in ("create", "update", "unchanged", "delete")
        )
        return f"providers: {providers}; routes: {routes}"


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{name}: {item}" for name, item in value.items()) + "}"
    if value == "":
        return '""'
    return str(value)


def _differences(old: ProviderSpec | RouteSpec, new: ProviderSpec | RouteSpec) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(item.name, getattr(old, item.name), getattr(new, item.name))
        for item in dataclass_fields(new)
        if item.compare and getattr(old, item.name) != getattr(new, item.name)
    )


def _validate(
    row: Provider | ModelRoute,
    spec: ProviderSpec | RouteSpec,
    label: str,
    keys: dict[str, str],
    problems: list[Problem],
    exclude: tuple[str, ...] = (),
) -> None:
    """The model's own validation (validators, clean()), each message at the line of its key."""
    try:
        row.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            key = keys.get(name, name)
            line = spec.key_lines.get(key, spec.line)
            about = "" if name == NON_FIELD_ERRORS else f"{key}: "
            problems.extend(Problem(line, f"{label}: {about}{message}") for message in messages)


def _plan_provider(spec: ProviderSpec, existing: Provider | None, problems: list[Problem]) -> tuple[Step, Provider]:
    label = f"provider {spec.name}"
    if existing is None:
        row = Provider(**spec.row_fields())
        _validate(row, spec, label, _PROVIDER_KEYS, problems)
        return Step("create", label, spec.line, row=row), row
    changes = _differences(ProviderSpec.from_row(existing), spec)
    if not changes:
        return Step("unchanged", label, spec.line, row=existing), existing
    for name, value in spec.row_fields().items():  # the stored token is not among them: it stays
        setattr(existing, name, value)
    _validate(existing, spec, label, _PROVIDER_KEYS, problems)
    return Step("update", label, spec.line, changes, existing), existing


def _plan_route(spec: RouteSpec, provider: Provider, existing: ModelRoute | None, problems: list[Problem]) -> Step:
    label = route_label(spec)
    # The provider may be one this import creates (no id yet): the file names it, so it is not
    # the model's to check; the unique constraint holds because `existing` was looked up by it.
    if existing is None:
        row = ModelRoute(provider=provider, **spec.row_fields())
        _validate(row, spec, label, _ROUTE_KEYS, problems, exclude=("provider",))
        return Step("create", label, spec.line, row=row)
    changes = _differences(RouteSpec.from_row(existing), spec)
    if not changes:
        return Step("unchanged", label, spec.line, row=existing)
    for name, value in spec.row_fields().items():
        setattr(existing, name, value)
    _validate(existing, spec, label, _ROUTE_KEYS, problems, exclude=("provider",))
    return Step("update", label, spec.line, changes, existing)


def plan_changes(route_file: RouteFile, *, prune: bool = False) -> ImportPlan:
    """What importing the file would change; RouteFileError (every problem, with its line) if it
    cannot be imported. Nothing is written.

    `prune`: also delete the routes of every provider the file defines (under `providers:`) that
    the file does not list. A provider a route merely points at is not the file's to prune: a file
    adding one fallback on the seeded workers-ai must not delete that provider's other routes.
    Routes of other providers and providers themselves stay.
    """
    problems: list[Problem] = []
    providers = {row.name: row for row in Provider.objects.all()}
    provider_steps: list[Step] = []
    for spec in route_file.providers:
        step, providers[spec.name] = _plan_provider(spec, providers.get(spec.name), problems)
        provider_steps.append(step)

    existing = {
        RouteSpec.from_row(row).identity: row for row in ModelRoute.objects.select_related("provider").order_by("id")
    }
    route_steps: list[Step] = []
    for spec in route_file.routes:
        provider = providers.get(spec.provider)
        if provider is None:
            known = ", ".join(sorted(providers)) or "none"
            problems.append(
                Problem(
                    spec.key_lines.get("provider", spec.line),
                    f"{route_label(spec)}: provider '{spec.provider}' is defined neither in this file nor in the "
                    f"database (known: {known})",
                )
            )
            continue
        route_steps.append(_plan_route(spec, provider, existing.get(spec.identity), problems))
    if problems:
        raise RouteFileError(route_file.source, problems)

    deletes: list[Step] = []
    if prune:
        defined = {spec.name for spec in route_file.providers}
        listed = {spec.identity for spec in route_file.routes}
        deletes = [
            Step("delete", route_label(RouteSpec.from_row(row)), 0, row=row)
            for identity, row in existing.items()
            if identity[2] in defined and identity not in listed
        ]
    return ImportPlan(route_file.source, tuple(provider_steps), tuple(deletes + route_steps))


def apply(plan: ImportPlan) -> None:
    """Write a plan, all or nothing: one transaction, each row saved or deleted on its own."""
    with transaction.atomic():
        for step in plan.providers + plan.routes:
            if step.row is None or step.action == "unchanged":
                continue
            if step.action == "delete":
                step.row.delete()
            else:
                # A new route's provider may have been created above: save() takes its new id.
                step.row.save()


def import_route_file(route_file: RouteFile, *, prune: bool = False, dry_run: bool = False) -> ImportPlan:
    """Plan, and unless `dry_run` apply, in one transaction (the plan is read inside it)."""
    if dry_run:
        return plan_changes(route_file, prune=prune)
    try:
        with transaction.atomic():
            plan = plan_changes(route_file, prune=prune)
            apply(plan)
    except IntegrityError as exc:  # another writer got there between the plan and the write
        raise RouteFileError(route_file.source, [Problem(None, f"the database changed meanwhile: {exc}")]) from exc
    if plan.changed:
        # One more bump once everything is committed: the signals' own come per saved row.
        routes.invalidate()
    return plan
