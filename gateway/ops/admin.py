"""Admin for providers, routes, keys and usage.

A new key's plaintext is shown once, in the message after saving; only its keyed hash is stored.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from gateway.models import ApiKey, ModelRoute, Price, Provider, UsageRecord, UsageRollup

if settings.GATEWAY_UPSTREAM_EMULATED:
    admin.site.site_header = "AI Gateway — EMULATED upstream (not Cloudflare)"
    admin.site.site_title = "AI Gateway (emulated)"
else:
    admin.site.site_header = "AI Gateway"
    admin.site.site_title = "AI Gateway"


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(
        required=False, assume_scheme="https", help_text=Provider._meta.get_field("base_url").help_text
    )

    # The stored token never goes back to the browser: a blank field keeps it, the box clears it.
    clear_api_token = forms.BooleanField(required=False, label="Clear the stored API token")

    class Meta:
        model = Provider
        fields = [
            "name",
            "kind",
            "base_url",
            "account_id",
            "api_token_env",
            "api_token",
            "connect_timeout",
            "read_timeout",
            "enabled",
        ]
        widgets = {"api_token": forms.PasswordInput(render_value=False)}
        help_texts = {"api_token": "Used when the variable above is unset. Leave blank to keep the stored one."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["api_token"] = ""  # a blank field then counts as unchanged, in the form and its history

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("clear_api_token"):
            cleaned["api_token"] = ""
        elif not cleaned.get("api_token"):
            cleaned["api_token"] = self.instance.api_token
        return cleaned


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "base_url", "enabled", "updated_at")
    list_filter = ("kind", "enabled")


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = (
        "public_name",
        "task",
        "upstream_model",
        "provider",
        "priority",
        "context_window",
        "supports_tools",
        "supports_vision",
        "enabled",
    )
    list_editable = ("upstream_model", "priority", "enabled")
    list_filter = ("task", "enabled", "provider", "supports_tools", "supports_vision", "reasoning")
    search_fields = ("public_name", "upstream_model")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "owner", "created_at", "last_used_at", "expires_at", "revoked_at", "is_active")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = (
        "name",
        "owner",
        "prefix",
        "allowed_models",
        "rpm_limit",
        "tpm_limit",
        "model_limits",
        "quota_tokens",
        "quota_usd",
        "quota_period",
        "expires_at",
        "revoked_at",
        "created_at",
        "last_used_at",
    )
    actions = ["revoke"]

    @admin.display(boolean=True)
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        plaintext = None if change else obj.issue()
        super().save_model(request, obj, form, change)
        if plaintext:
            messages.warning(
                request,
                f"New API key for '{obj.name}': {plaintext} — copy it now, it will not be shown again.",
            )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        now = timezone.now()
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoked_at = now
            key.save(update_fields=["revoked_at"])  # save(), not update(): signals drop the cache
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).")


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "key_prefix",
        "endpoint",
        "public_model",
        "upstream_model",
        "status",
        "error_code",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "ttft_ms",
        "streamed",
        "cached",
        "cost_usd",
        "usage_estimated",
    )
    list_filter = (
        "status",
        "endpoint",
        "streamed",
        "cached",
        "usage_estimated",
        "public_model",
        "api_key",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("request_id", "key_prefix", "public_model", "upstream_model")
    date_hierarchy = "created_at"
    list_select_related = ("api_key",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UsageRecord | None = None) -> bool:
        return False


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    """Blank is unknown (the request's cost is recorded blank), not free: enter 0 for free."""

    list_display = (
        "upstream_model",
        "usd_per_m_input",
        "usd_per_m_output",
        "usd_per_audio_minute",
        "usd_per_image",
        "usd_per_m_characters",
        "updated_at",
    )
    list_editable = (
        "usd_per_m_input",
        "usd_per_m_output",
        "usd_per_audio_minute",
        "usd_per_image",
        "usd_per_m_characters",
    )
    search_fields = ("upstream_model",)


@admin.register(UsageRollup)
class UsageRollupAdmin(admin.ModelAdmin):
    list_display = (
        "day",
        "key_prefix",
        "endpoint",
        "public_model",
        "status",
        "cached",
        "requests",
        "total_tokens",
        "cost_usd",
    )
    list_filter = ("status", "endpoint", "cached", ("day", admin.DateFieldListFilter))
    search_fields = ("key_prefix", "public_model", "upstream_model")
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UsageRollup | None = None) -> bool:
        return False
