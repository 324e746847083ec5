"""Model routes, API keys and the usage ledger (providers: gateway/provider_models.py; stored
responses: gateway/response_models.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from gateway import plain_data

# Providers live in a module of their own; importing them here keeps them Django's models of this app.
from gateway.provider_models import (  # noqa: F401 (re-exported)
    LEGACY_TOKEN_ENV,
    TOKEN_ENV_PREFIX,
    Provider,
    ProviderRecord,
    forget_stored_token,
    token_env_allowed,
    validate_extra_headers,
    validate_token_env,
)
from gateway.response_models import StoredResponse, StoredResponseQuerySet  # noqa: F401 (re-exported)


def snapshot_shape(*classes: type) -> str:
    """A tag of the dataclasses a cache entry stores (names and annotated types of their fields) and
    of the form they are stored in (gateway/plain_data.py FORMAT).

    Cache keys carry it, so a process whose dataclasses changed shape never reads an entry written
    by other code (a rolling deploy, a rollback): each shape reads and writes its own key.
    """
    shape = [(cls.__qualname__, [(field.name, str(field.type)) for field in dataclass_fields(cls)]) for cls in classes]
    shape.append((plain_data.FORMAT, []))
    return f"{zlib.crc32(repr(shape).encode()):08x}"


class Task(models.TextChoices):
    CHAT = "chat", "Chat"
    COMPLETION = "completion", "Completion"
    EMBEDDING = "embedding", "Embedding"
    TRANSCRIPTION = "transcription", "Transcription"
    TRANSLATION = "translation", "Translation"
    SPEECH = "speech", "Speech"
    IMAGE = "image", "Image"
    MODERATION = "moderation", "Moderation"


class ModelRoute(models.Model):
    """A public model name served by an upstream model; several rows per name are fallbacks."""

    public_name = models.CharField(max_length=200, db_index=True)
    task = models.CharField(max_length=32, choices=Task.choices)
    upstream_model = models.CharField(max_length=200)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="routes")
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    supports_tools = models.BooleanField(default=False)
    supports_vision = models.BooleanField(default=False)
    supports_json_mode = models.BooleanField("supports JSON mode", default=False)
    reasoning = models.BooleanField(default=False, help_text="Output opens inside a <think> block (reasoning models).")
    output_dimensions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Embedding routes: the length of the vectors the model returns."
    )
    priority = models.PositiveSmallIntegerField(default=0, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Response cache lifetime for this name (its first route counts); "
        "blank: GATEWAY_CACHE_TTL_SECONDS, 0: never cached.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "model route"
        verbose_name_plural = "model routes"
        ordering = ["public_name", "priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["public_name", "task", "provider", "upstream_model"], name="unique_route")
        ]

    def __str__(self) -> str:
        return f"{self.public_name} → {self.upstream_model}"


def validate_model_limits(value: object) -> None:
    """`{"gpt-4": {"rpm": 10, "tpm": 10000}}`: public model names to positive integers (or null)."""
    problem = 'Expected an object like {"gpt-4": {"rpm": 10, "tpm": 10000}}.'
    if not isinstance(value, dict):
        raise ValidationError(problem)
    for model, limits in value.items():
        if not isinstance(limits, dict) or not set(limits) <= {"rpm", "tpm"}:
            raise ValidationError(f"{model}: {problem}")
        for name, number in limits.items():
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 1):
                raise ValidationError(f"{model}.{name} must be a positive integer or null, not {number!r}.")


def _hash_key(plaintext: str, secret: str) -> str:
    return hmac.new(secret.encode(), plaintext.encode(), hashlib.sha256).hexdigest()


# Sent after a queryset update() of keys commits (update() sends no post_save): gateway/signals.py
# then writes each changed key's state into the cache, as a save would have. `key_hashes`: the rows'.
keys_bulk_changed = Signal()


# Fields no cached key state holds: an update of these alone is no change to announce.
_NOT_IN_KEY_STATE = frozenset({"last_used_at"})


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def update(self, **kwargs: Any) -> int:
        if kwargs.keys() <= _NOT_IN_KEY_STATE:  # the ledger's once-a-minute last-used touch
            return super().update(**kwargs)
        hashes = list(self.values_list("key_hash", flat=True))
        if "key_hash" in kwargs:
            hashes.append(kwargs["key_hash"])
        count = super().update(**kwargs)
        transaction.on_commit(lambda: keys_bulk_changed.send(sender=ApiKey, key_hashes=hashes), using=self.db)
        return count


class ApiKey(models.Model):
    PREFIX = "sk-gw-"

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.JSONField(
        "allowed models", default=list, blank=True, help_text="Public model names; empty allows every model."
    )
    rpm_limit = models.PositiveIntegerField(
        "RPM limit", null=True, blank=True, help_text="Requests per minute, all models together; blank: none."
    )
    tpm_limit = models.PositiveIntegerField(
        "TPM limit", null=True, blank=True, help_text="Tokens per minute, all models together; blank: none."
    )
    model_limits = models.JSONField(
        "per-model limits",
        default=dict,
        blank=True,
        validators=[validate_model_limits],
        help_text='Per public model, counted apart from the key-wide limits: {"gpt-4": {"rpm": 10, "tpm": 10000}}.',
    )

    class QuotaPeriod(models.TextChoices):
        DAY = "day", "Day (UTC)"
        MONTH = "month", "Month (UTC)"

    quota_tokens = models.PositiveBigIntegerField(
        "token budget", null=True, blank=True, help_text="Tokens per budget period; blank: none."
    )
    quota_usd = models.DecimalField(
        "USD budget",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cost in US dollars per budget period, from the price table; blank: none.",
    )
    quota_period = models.CharField(
        "budget period", max_length=8, choices=QuotaPeriod.choices, default=QuotaPeriod.MONTH
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def hash_key(cls, plaintext: str) -> str:
        """Keyed hash (HMAC-SHA256 under GATEWAY_KEY_HASH_SECRET): a leaked table alone yields no keys."""
        return _hash_key(plaintext, settings.GATEWAY_KEY_HASH_SECRET)

    @classmethod
    def fallback_hashes(cls, plaintext: str) -> list[str]:
        """The key's hashes under the secrets being rotated out (GATEWAY_KEY_HASH_SECRET_FALLBACKS)."""
        return [_hash_key(plaintext, secret) for secret in settings.GATEWAY_KEY_HASH_SECRET_FALLBACKS]

    def issue(self) -> str:
        """Give this (unsaved) key a fresh secret; the plaintext is returned once and not stored."""
        plaintext = self.PREFIX + secrets.token_urlsafe(32)
        self.prefix = plaintext[:14]
        self.key_hash = self.hash_key(plaintext)
        return plaintext

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class UsageRecord(models.Model):
    """One row per request: the ledger behind usage, cost and the dashboard."""

    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage", verbose_name="API key"
    )
    key_prefix = models.CharField(max_length=16, blank=True)
    endpoint = models.CharField(max_length=64)
    public_model = models.CharField(max_length=200, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    status = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField("latency (ms)", default=0)
    ttft_ms = models.PositiveIntegerField("time to first token (ms)", null=True, blank=True)
    streamed = models.BooleanField(default=False)
    client_disconnected = models.BooleanField(default=False)
    cached = models.BooleanField(default=False, help_text="Served from the response cache: no upstream call.")
    usage_estimated = models.BooleanField(
        default=False, help_text="The upstream reported no usage: the gateway estimated the tokens."
    )
    audio_seconds = models.FloatField(default=0, help_text="Seconds of audio transcribed or translated.")
    characters = models.PositiveIntegerField(default=0, help_text="Characters of text turned into speech.")
    images = models.PositiveIntegerField(default=0, help_text="Images generated.")
    route_id = models.PositiveIntegerField(
        "route", null=True, blank=True, help_text="The model route that answered (its id; it may since be deleted)."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Upstream attempts made: retries and fallbacks included; 0 when none was called."
    )
    cost_usd = models.DecimalField(
        "cost (USD)",
        max_digits=18,
        decimal_places=10,
        null=True,
        blank=True,
        default=Decimal(0),
        help_text="What the upstream charged, from the price table; blank: the model has no price.",
    )
    cost_saved_usd = models.DecimalField(
        max_digits=18,
        decimal_places=10,
        default=Decimal(0),
        help_text="A cached answer: what the upstream call would have cost.",
    )
    request_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "usage record"
        verbose_name_plural = "usage records"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["api_key", "created_at"], name="usage_key_time"),
            models.Index(fields=["public_model", "created_at"], name="usage_model_time"),
            models.Index(fields=["status", "created_at"], name="usage_status_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.endpoint} {self.status}"


class Price(models.Model):
    """What Cloudflare charges for one upstream model; blank prices are unknown, not free."""

    upstream_model = models.CharField(max_length=200, unique=True)
    usd_per_m_input = models.DecimalField(
        "USD per M input tokens", max_digits=14, decimal_places=8, null=True, blank=True
    )
    usd_per_m_output = models.DecimalField(
        "USD per M output tokens", max_digits=14, decimal_places=8, null=True, blank=True
    )
    usd_per_audio_minute = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    usd_per_image = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    usd_per_m_characters = models.DecimalField(
        "USD per M characters", max_digits=14, decimal_places=8, null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["upstream_model"]

    def __str__(self) -> str:
        return self.upstream_model


class UsageRollup(models.Model):
    """Usage records older than the retention period, summed per UTC day, key, endpoint, model,
    status and cached or not by `manage.py prune_usage`; /v1/usage reads both tables."""

    day = models.DateField()
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_rollups", verbose_name="API key"
    )
    key_prefix = models.CharField(max_length=16, blank=True)
    endpoint = models.CharField(max_length=64)
    public_model = models.CharField(max_length=200, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    status = models.PositiveSmallIntegerField()
    cached = models.BooleanField(default=False)
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    audio_seconds = models.FloatField(default=0)
    characters = models.PositiveBigIntegerField(default=0)
    images = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(0))
    cost_saved_usd = models.DecimalField(max_digits=18, decimal_places=10, default=Decimal(0))
    estimated_requests = models.PositiveIntegerField(default=0)
    unpriced_requests = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "daily usage roll-up"
        verbose_name_plural = "daily usage roll-ups"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "api_key",
                    "key_prefix",
                    "endpoint",
                    "public_model",
                    "upstream_model",
                    "provider",
                    "status",
                    "cached",
                ],
                name="unique_usage_rollup",
                nulls_distinct=False,  # one row for all key-less requests of a day
            )
        ]
        indexes = [models.Index(fields=["api_key", "day"], name="rollup_key_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.key_prefix} {self.endpoint} {self.public_model} {self.status}"
