"""Bearer key → KeyPrincipal, as a DRF authentication class.

Lookups go by keyed hash, never by comparing plaintext. Each process keeps the principals it
resolved (gateway/stamps.py) over a Redis cache shared by all, so the hot path makes neither
a database nor a Redis round trip for its key. gateway/signals.py writes a saved or deleted key's
new state into the shared cache and bumps the keys' stamp, which every worker's next admission
sees: revocation and expiry edits take effect at once on every worker.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from gateway import plain_data, stamps
from gateway.access import failures
from gateway.errors import GatewayError
from gateway.models import ApiKey, snapshot_shape


@dataclass(frozen=True)
class KeyPrincipal:
    """What a request knows about its key; also serves as request.user for DRF."""

    key_id: int | None  # None for the static ACCESS_TOKEN
    name: str
    prefix: str
    owner_id: int | None
    allowed_models: tuple[str, ...] = ()
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    # (public model, rpm, tpm): counted apart from the key-wide limits (gateway/accounting/admission.py).
    model_limits: tuple[tuple[str, int | None, int | None], ...] = ()
    quota_tokens: int | None = None
    quota_usd: Decimal | None = None
    quota_period: str = "month"
    expires_at: datetime | None = None
    revoked: bool = False
    owner_active: bool = True  # a deactivated owner's keys are refused (README "API keys")

    is_authenticated = True
    is_anonymous = False

    def allows(self, public_model: str) -> bool:
        return not self.allowed_models or public_model in self.allowed_models


_ACCESS_TOKEN_PRINCIPAL = KeyPrincipal(key_id=None, name="ACCESS_TOKEN", prefix="access-token", owner_id=None)


# The shape of the cached principal is part of the key (gateway/models.py snapshot_shape).
_SHAPE = snapshot_shape(KeyPrincipal)


def cache_key(key_hash: str) -> str:
    return f"apikey:{_SHAPE}:{key_hash}"


def _principal_from_row(row: ApiKey) -> KeyPrincipal:
    return KeyPrincipal(
        key_id=row.pk,
        name=row.name,
        prefix=row.prefix,
        owner_id=row.owner_id,
        allowed_models=tuple(row.allowed_models or ()),
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        model_limits=tuple(
            (model, limits.get("rpm"), limits.get("tpm"))
            for model, limits in (row.model_limits or {}).items()
            if isinstance(limits, dict)
        ),
        quota_tokens=row.quota_tokens,
        quota_usd=row.quota_usd,
        quota_period=row.quota_period,
        expires_at=row.expires_at,
        revoked=row.revoked_at is not None,
        owner_active=row.owner.is_active,
    )


def resolve_key(plaintext: str) -> KeyPrincipal | None:
    """The principal for a presented key, or None when no such key exists."""
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str, and a header can carry any
    # latin-1 character, which would turn a bad key into a 500.
    if settings.ACCESS_TOKEN and hmac.compare_digest(plaintext.encode(), settings.ACCESS_TOKEN.encode()):
        return _ACCESS_TOKEN_PRINCIPAL
    principal = _PRINCIPALS.get(ApiKey.hash_key(plaintext))
    if principal is None:
        for old_hash in ApiKey.fallback_hashes(plaintext):
            if _PRINCIPALS.get(old_hash) is not None:
                return _rehash(old_hash, ApiKey.hash_key(plaintext))
    return principal


def _rehash(old_hash: str, key_hash: str) -> KeyPrincipal | None:
    """A key found under a secret being rotated out, stored again under the current one. The
    save's signal writes the new hash's state; the old hash is then known as no key at all."""
    row = ApiKey.objects.select_related("owner").filter(key_hash=old_hash).first()
    if row is None:
        return None
    row.key_hash = key_hash
    row.save(update_fields=["key_hash"])
    transaction.on_commit(lambda: remember_key(None, old_hash))
    return _principal_from_row(row)


def _shared_lookup(key_hash: str, stamp: str) -> KeyPrincipal | None:
    cached = cache.get(cache_key(key_hash))
    if cached is False:  # a known-unknown key
        return None
    principal = plain_data.from_stored(cached, KeyPrincipal)
    if principal is not None:
        return principal
    row = ApiKey.objects.select_related("owner").filter(key_hash=key_hash).first()
    principal = _principal_from_row(row) if row else None
    # add, not set: a lookup that read the row just before an edit must not overwrite the state the
    # edit wrote into the cache just after (gateway/signals.py), or a revoked key would live on.
    cache.add(cache_key(key_hash), _stored(principal), settings.GATEWAY_AUTH_CACHE_SECONDS)
    return principal


_PRINCIPALS: stamps.LocalCopies[KeyPrincipal | None] = stamps.LocalCopies("keys", _shared_lookup)  # type: ignore[arg-type]


def remember_key(row: ApiKey | None, key_hash: str) -> None:
    """Put a key's current state in the cache (False once deleted), after an edit."""
    cache.set(
        cache_key(key_hash), _stored(_principal_from_row(row) if row else None), settings.GATEWAY_AUTH_CACHE_SECONDS
    )


def _stored(principal: KeyPrincipal | None) -> object:
    """A key's cache entry: its principal as plain data, or False for a key that does not exist."""
    return plain_data.to_plain(principal) if principal is not None else False


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyPrincipal, KeyPrincipal] | None:
        """`resolve`, a failure counted against the client's address (gateway/access/failures.py)."""
        try:
            return self.resolve(request)
        except GatewayError as refusal:
            raise failures.after_failure(request, refusal) from None

    def resolve(self, request: Request) -> tuple[KeyPrincipal, KeyPrincipal]:
        """The request's key as (user, auth); GatewayError 401 when it has none that is good."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                type="invalid_request_error",
                code="missing_api_key" if not header else "invalid_api_key",
            )
        principal = resolve_key(token.strip())
        if (principal is None or principal.revoked or not principal.owner_active) and stamps.moved_since_read("keys"):
            principal = resolve_key(token.strip())  # created or restored just now
        if principal is None:
            raise GatewayError(401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")
        if principal.revoked:
            raise GatewayError(
                401, "This API key has been revoked.", type="invalid_request_error", code="invalid_api_key"
            )
        if not principal.owner_active:
            raise GatewayError(
                401, "This API key's owner is deactivated.", type="invalid_request_error", code="invalid_api_key"
            )
        if principal.expires_at is not None and principal.expires_at <= timezone.now():
            raise GatewayError(401, "This API key has expired.", type="invalid_request_error", code="invalid_api_key")
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
