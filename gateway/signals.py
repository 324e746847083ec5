"""Cache invalidation: admin edits to keys, routes, providers and prices reach every worker at once.

Each edit, once committed, rewrites what the shared Redis cache holds and then bumps its kind's
stamp (gateway/stamps.py), which every worker's next admission reads: committed first, so a
worker that reloads on the new stamp reads the new rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gateway import stamps
from gateway.access.auth import remember_key
from gateway.accounting import pricing
from gateway.catalog import routes
from gateway.models import ApiKey, ModelRoute, Price, Provider, forget_stored_token, keys_bulk_changed


@receiver(post_save, sender=ApiKey)
def _remember_key(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    # The new state is written, not just dropped, and only once committed: a lookup racing the
    # edit only ever `add`s, so it cannot put the old state back (gateway/access/auth.py resolve_key).
    transaction.on_commit(lambda: _key_changed(instance, instance.key_hash))


@receiver(post_delete, sender=ApiKey)
def _forget_key(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    transaction.on_commit(lambda: _key_changed(None, instance.key_hash))


def _key_changed(row: ApiKey | None, key_hash: str) -> None:
    remember_key(row, key_hash)
    stamps.bump("keys")


@receiver(keys_bulk_changed)
def _remember_keys(sender: type[ApiKey], key_hashes: list[str], **kwargs: Any) -> None:
    # A queryset update(), already committed: each key's state as it is now (False for a hash no
    # row has any longer, such as the one a re-hash replaced).
    rows = {row.key_hash: row for row in ApiKey.objects.select_related("owner").filter(key_hash__in=key_hashes)}
    for key_hash in key_hashes:
        remember_key(rows.get(key_hash), key_hash)
    stamps.bump("keys")


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _owner_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    # Deactivating (or reactivating) a user applies to their keys on every worker at once. A save of
    # other fields only (a login's last_login) leaves them be.
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "is_active" not in update_fields:
        return
    transaction.on_commit(lambda: _owner_keys_changed(instance.pk))


def _owner_keys_changed(owner_id: int) -> None:
    hashes = list(ApiKey.objects.filter(owner_id=owner_id).values_list("key_hash", flat=True))
    if hashes:
        keys_bulk_changed.send(sender=ApiKey, key_hashes=hashes)


@receiver([post_save, post_delete], sender=ModelRoute)
@receiver([post_save, post_delete], sender=Provider)
def _forget_routes(sender: type, instance: Any, **kwargs: Any) -> None:
    transaction.on_commit(routes.invalidate)


@receiver([post_save, post_delete], sender=Provider)
def _forget_token(sender: type[Provider], instance: Provider, **kwargs: Any) -> None:
    # This process's copy; the others renew theirs from the new updated_at (gateway/models.py).
    forget_stored_token(instance.pk)


@receiver([post_save, post_delete], sender=Price)
def _forget_prices(sender: type[Price], instance: Price, **kwargs: Any) -> None:
    transaction.on_commit(pricing.invalidate)
