"""Providers: their rows, the cached record of one, and how a process resolves its token.

A provider's token comes from a GATEWAY_PROVIDER_… variable (or CLOUDFLARE_API_TOKEN), else from
its row, where it is stored encrypted (gateway/encryption.py); route snapshots carry the record,
never the token (README "Provider tokens"). Re-exported by gateway/models.py, Django's models module.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from gateway.db import release_connections
from gateway.encryption import EncryptedTokenField, UnreadableSecret
from gateway.providers.base import ProviderConfig

# A provider's token may come from the environment only under this prefix, or from the name the
# Workers AI token has always had: any other name would let an admin user send the process's own
# secrets (DJANGO_SECRET_KEY, DATABASE_URL) to a base URL of their choosing (README "Provider tokens").
TOKEN_ENV_PREFIX = "GATEWAY_PROVIDER_"
LEGACY_TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
CLOUDFLARE_API_HOST = "api.cloudflare.com"
_TOKEN_ENV_NAME = re.compile(re.escape(TOKEN_ENV_PREFIX) + r"[A-Z0-9_]+")

logger = logging.getLogger(__name__)


def token_env_allowed(name: str) -> bool:
    return name == LEGACY_TOKEN_ENV or _TOKEN_ENV_NAME.fullmatch(name) is not None


def validate_token_env(value: str) -> None:
    if value and not token_env_allowed(value):
        raise ValidationError(
            "Name a variable starting with %(prefix)s (capitals, digits, _) or %(legacy)s, not %(value)s.",
            code="token_env_not_allowed",
            params={"prefix": TOKEN_ENV_PREFIX, "legacy": LEGACY_TOKEN_ENV, "value": value},
        )


# Headers an operator may not set: the gateway's own (auth, framing) would be overridden or leak.
_RESERVED_HEADERS = {"authorization", "content-type", "content-length", "host", "transfer-encoding", "connection"}
# Credentials under other names. Extra headers are plaintext in the row, in the route snapshot in
# Redis, in export_routes' file and on the admin page; the token is encrypted in the row, absent elsewhere.
_CREDENTIAL_HEADERS = {"proxy-authorization", "cookie", "api-key", "x-api-key", "x-goog-api-key"}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def validate_extra_headers(value: object) -> None:
    """`{"Header-Name": "value"}`: string names and values, none of the gateway's own headers and
    no credential."""
    if not isinstance(value, dict):
        raise ValidationError('Give an object of header names to values, e.g. {"X-Team": "search"}.')
    for name, header in value.items():
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(str(name)) or "\n" in header or "\r" in header:
            raise ValidationError(
                "Header %(name)s: names are tokens and values one-line strings.", params={"name": name}
            )
        if str(name).lower() in _RESERVED_HEADERS:
            raise ValidationError("The gateway sets %(name)s itself.", params={"name": name})
        if str(name).lower() in _CREDENTIAL_HEADERS:
            raise ValidationError(
                "%(name)s carries a credential, which extra headers keep in plaintext: give it as the "
                "provider's token instead (a %(prefix)s… variable or the stored, encrypted token).",
                code="credential_header",
                params={"name": name, "prefix": TOKEN_ENV_PREFIX},
            )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the port filled in from the scheme; None when unparseable.

    A token's safety depends on the origin alone: the path, query and any user:password@ part are
    left out (urlsplit's hostname is the host after them, lowercased).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname, port if port is not None else _DEFAULT_PORTS[scheme]


def base_url_origin(base_url: str) -> tuple[str, str, int] | None:
    """The origin a provider's calls go to: a blank base URL is the environment's."""
    return url_origin(base_url or settings.CLOUDFLARE_API_BASE_URL)


class Provider(models.Model):
    class Kind(models.TextChoices):
        WORKERS_AI = "workers_ai", "Cloudflare Workers AI"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.WORKERS_AI)
    base_url = models.URLField(blank=True, help_text="Blank: CLOUDFLARE_API_BASE_URL from the environment.")
    account_id = models.CharField(
        max_length=64, blank=True, help_text="Blank: CLOUDFLARE_ACCOUNT_ID from the environment."
    )
    api_token_env = models.CharField(
        max_length=64,
        blank=True,
        default=LEGACY_TOKEN_ENV,
        validators=[validate_token_env],
        help_text=f"Name of the environment variable holding the token (preferred): {TOKEN_ENV_PREFIX}… "
        f"or {LEGACY_TOKEN_ENV}.",
    )
    # Encrypted in its column (gateway/encryption.py); the attribute holds the plaintext.
    api_token = EncryptedTokenField(
        blank=True,
        validators=[MaxLengthValidator(512)],
        help_text="Stored token (encrypted), used when the variable above is unset.",
    )
    connect_timeout = models.FloatField(default=5.0)
    read_timeout = models.FloatField(default=120.0)
    extra_headers = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_extra_headers],
        help_text='Sent with every upstream call, e.g. {"OpenAI-Organization": "org-…"}.',
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if self.pk is not None and (update_fields is None or "base_url" in update_fields):
            if self._drop_token_left_behind() and update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "api_token"}
        super().save(*args, **kwargs)

    def _drop_token_left_behind(self) -> bool:
        """Clear the stored token when the base URL moves to another origin and no token came with it.

        The token is write-only in the admin, so following an edited base URL would be how an admin
        user reads it: at a host of their own. A token entered in the same save was meant for the
        new host. import_routes never sets a token, so its origin changes clear it too.
        """
        before = Provider.objects.filter(pk=self.pk).values_list("base_url", "api_token").first()
        if before is None:
            return False
        old_base_url, old_token = before
        if not _holds_token(self.api_token) or not _same_token(self.api_token, old_token):
            return False
        if base_url_origin(self.base_url) == base_url_origin(old_base_url):
            return False
        self.api_token = ""
        logger.warning(
            "Provider %s: its base URL moved to another scheme, host or port, so its stored API token "
            "was cleared (it was meant for the old one). Enter the new upstream's token in the admin.",
            self.name,
        )
        return True

    def clean(self) -> None:
        super().clean()
        if self.kind == self.Kind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {"base_url": "An OpenAI-compatible provider needs its base URL (the part before /chat/completions)."}
            )
        if not self.record().cloudflare_token_may_go():
            raise ValidationError(
                {
                    "api_token_env": f"{LEGACY_TOKEN_ENV} goes only to Cloudflare's API: leave the base URL "
                    "blank (CLOUDFLARE_API_BASE_URL is used), keep that URL's scheme, host and port, or use "
                    f"https://{CLOUDFLARE_API_HOST}/…. For another upstream name a {TOKEN_ENV_PREFIX}… "
                    "variable, or store its token."
                }
            )

    def record(self) -> ProviderRecord:
        return ProviderRecord(
            provider_id=self.pk,
            name=self.name,
            kind=self.kind,
            base_url=self.base_url,
            account_id=self.account_id,
            api_token_env=self.api_token_env,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            extra_headers=tuple(sorted((self.extra_headers or {}).items())),
            updated_at=self.updated_at.timestamp() if self.updated_at else 0.0,
        )

    def config(self) -> ProviderConfig:
        return self.record().config(stored_token=_readable(self.name, self.api_token))

    def token_source(self) -> str:
        """Where this process finds the token, in ProviderRecord.config's order (the admin's list)."""
        record = self.record()
        if record.env_token():
            return f"env {self.api_token_env}"
        if isinstance(self.api_token, UnreadableSecret):
            return "stored, cannot be decrypted"
        if self.api_token:
            return "stored (encrypted)"
        if record.legacy_token():
            return f"env {LEGACY_TOKEN_ENV}"
        return "none"


@dataclass(frozen=True)
class ProviderRecord:
    """A provider row as cached data; `config()` resolves its token and blanks in this process.

    It carries no secret: route snapshots pickle it into Redis (gateway/catalog/routes.py). The
    token comes from the environment or, stored in the row, from this process's own copy
    (`_stored_token`). Resolution is per process because processes may differ in environment (a
    demo's emulator URL, a rotated token) and must never pick up each other's.
    """

    provider_id: int
    name: str
    kind: str
    base_url: str
    account_id: str
    api_token_env: str
    connect_timeout: float
    read_timeout: float
    extra_headers: tuple[tuple[str, str], ...]
    updated_at: float  # unix seconds: a save changes it, which renews every process's copy of the token

    def config(self, stored_token: str | None = None) -> ProviderConfig:
        """`stored_token`: the row's own, when the caller holds the row; else read per process."""
        token = self.env_token()
        if not token:
            token = _stored_token(self) if stored_token is None else stored_token
        if not token:
            token = self.legacy_token()
        return ProviderConfig(
            kind=self.kind,
            base_url=(self.base_url or settings.CLOUDFLARE_API_BASE_URL).rstrip("/"),
            account_id=self.account_id or settings.CLOUDFLARE_ACCOUNT_ID,
            api_token=token,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            extra_headers=dict(self.extra_headers),
        )

    def env_token(self) -> str:
        # An invalid name (saved before the rule, or through queryset.update()) resolves to no token.
        allowed = token_env_allowed(self.api_token_env) and self.cloudflare_token_may_go()
        return os.environ.get(self.api_token_env, "") if allowed else ""

    def legacy_token(self) -> str:
        # May come from CLOUDFLARE_API_TOKEN_FILE, which only settings read.
        legacy = self.api_token_env == LEGACY_TOKEN_ENV and self.cloudflare_token_may_go()
        return settings.CLOUDFLARE_API_TOKEN if legacy else ""

    def cloudflare_token_may_go(self) -> bool:
        """CLOUDFLARE_API_TOKEN (the machine's Workers AI token, whatever the kind) goes only where
        the operator's own CLOUDFLARE_API_BASE_URL points (a blank base URL, or one on its origin)
        or to Cloudflare's API over https: never to a host an admin user typed into the row."""
        if self.api_token_env != LEGACY_TOKEN_ENV or not self.base_url:
            return True
        origin = url_origin(self.base_url)
        if origin is None:
            return False
        if origin == url_origin(settings.CLOUDFLARE_API_BASE_URL):
            return True
        return origin[0] == "https" and origin[1] == CLOUDFLARE_API_HOST


# provider id → (its updated_at, when read (monotonic), stored token). A save changes updated_at and
# the route snapshot with it, so every process reads the new token at its next request; the
# lifetime bounds a change that bypassed save() (queryset.update()), as the snapshots' own does.
_stored_tokens: dict[int, tuple[float, float, str]] = {}
STORED_TOKEN_SECONDS = 60.0


def _stored_token(record: ProviderRecord) -> str:
    now = time.monotonic()
    held = _stored_tokens.get(record.provider_id)
    if held is not None and held[0] == record.updated_at and now - held[1] < STORED_TOKEN_SECONDS:
        return str(held[2])  # an UnreadableSecret as plain ""
    token = Provider.objects.filter(pk=record.provider_id).values_list("api_token", flat=True).first()
    token = "" if token is None else token  # not `or ""`: an UnreadableSecret is falsy too
    # Read on the way to an upstream call: hand the connection back before that wait (gateway/db.py).
    release_connections()
    _stored_tokens[record.provider_id] = (record.updated_at, now, token)
    # Warned once per row version, not at each re-read while the key stays wrong.
    already_warned = held is not None and held[0] == record.updated_at and isinstance(held[2], UnreadableSecret)
    return str(token) if already_warned else _readable(record.name, token)


def _readable(provider: str, token: str) -> str:
    """The token, or "" for one no configured key decrypts: the provider is then called without it."""
    if not isinstance(token, UnreadableSecret):
        return token
    logger.warning(
        "Provider %s: its stored API token cannot be decrypted with GATEWAY_SECRETS_KEY or "
        "GATEWAY_SECRETS_KEY_FALLBACKS (was the key changed?). It is used without a stored token "
        "until that key is restored or the token is entered again in the admin.",
        provider,
    )
    return ""


def _holds_token(token: str) -> bool:
    return isinstance(token, UnreadableSecret) or bool(token)  # an UnreadableSecret is falsy


def _same_token(token: str, before: str | None) -> bool:
    """Whether the row's token is the one already stored (an unreadable one by its ciphertext)."""
    if isinstance(token, UnreadableSecret) or isinstance(before, UnreadableSecret):
        return isinstance(before, UnreadableSecret) and getattr(token, "stored", None) == before.stored
    return token == before


def forget_stored_token(provider_id: int) -> None:
    """Drop this process's copy of a provider's token (gateway/signals.py, on save and delete)."""
    _stored_tokens.pop(provider_id, None)
