"""Admin for providers, routes, keys and usage.

A new key's plaintext is shown once, in the page that answers its saving; only its keyed hash is stored.
The key's form (allowed models, per-model limits) and the provider's (a write-only token) are in
admin_forms.py; the keys list adds today's usage and the budget left, summed in the changelist's
one query.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from gateway.accounting.quotas import current_period
from gateway.catalog import cooldown
from gateway.models import ApiKey, ModelRoute, Price, Provider, UsageRecord, UsageRollup
from gateway.ops.admin_forms import ApiKeyForm, ProviderForm

if settings.GATEWAY_UPSTREAM_EMULATED:
    admin.site.site_header = "AI Gateway — EMULATED upstream (not Cloudflare)"
    admin.site.site_title = "AI Gateway (emulated)"
else:
    admin.site.site_header = "AI Gateway"
    admin.site.site_title = "AI Gateway"


def route_capabilities(route: ModelRoute) -> str:
    """Tools, vision, JSON mode, reasoning and the context window, in a few words."""
    parts = [
        label
        for label, supported in (
            ("tools", route.supports_tools),
            ("vision", route.supports_vision),
            ("JSON", route.supports_json_mode),
            ("reasoning", route.reasoning),
        )
        if supported
    ]
    window = route.context_window
    if window:
        size = (
            f"{window // 1024}k"
            if window % 1024 == 0
            else f"{round(window / 1000)}k"
            if window >= 1000
            else str(window)
        )
        parts.append(f"{size} context")
    return " · ".join(parts) or "—"


def usage_flags(record: UsageRecord) -> str:
    flags = (
        ("streamed", record.streamed),
        ("cached", record.cached),
        ("estimated", record.usage_estimated),
        ("client left", record.client_disconnected),
        (f"{record.attempts} attempts", record.attempts > 1),  # fallbacks or retries
    )
    return ", ".join(label for label, on in flags if on)


def _summed(queryset: QuerySet[Any], expression: Any, output: Any) -> Coalesce:
    """One figure per key from `queryset` (filtered on OuterRef("pk")), 0 when it has no rows."""
    rows = queryset.order_by().values("api_key").annotate(figure=expression).values("figure")
    return Coalesce(Subquery(rows, output_field=output), Value(0), output_field=output)


def with_usage_columns(queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
    """Today's requests and tokens and what each budget spent this period, in the page's one query.

    Spending is counted as quotas.seed_missing counts it: records and daily roll-ups of the period,
    answers from the response cache left out.
    """
    day, month = current_period("day"), current_period("month")
    money = DecimalField(max_digits=24, decimal_places=10)
    queryset = queryset.annotate(
        budget_since=Case(
            When(quota_period="day", then=Value(day.start)), default=Value(month.start), output_field=DateTimeField()
        ),
        budget_since_day=Case(
            When(quota_period="day", then=Value(day.start.date())),
            default=Value(month.start.date()),
            output_field=DateField(),
        ),
    )
    records = UsageRecord.objects.filter(api_key=OuterRef("pk"))
    today = records.filter(created_at__gte=day.start)
    spent = records.filter(created_at__gte=OuterRef("budget_since"), cached=False)
    rolled = UsageRollup.objects.filter(api_key=OuterRef("pk"), day__gte=OuterRef("budget_since_day"), cached=False)
    return queryset.annotate(
        requests_today=_summed(today, Count("id"), models.BigIntegerField()),
        tokens_today=_summed(today, Sum("total_tokens"), models.BigIntegerField()),
        budget_tokens_spent=_summed(spent, Sum("total_tokens"), models.BigIntegerField())
        + _summed(rolled, Sum("total_tokens"), models.BigIntegerField()),
        budget_usd_spent=_summed(spent, Sum("cost_usd"), money) + _summed(rolled, Sum("cost_usd"), money),
    )


def budget_left(key: ApiKey) -> str:
    """What is left of the key's budgets this period (annotated by with_usage_columns); — for none."""
    left = []
    if key.quota_tokens is not None:
        left.append(f"{max(key.quota_tokens - (getattr(key, 'budget_tokens_spent', 0) or 0), 0):,} tokens")
    if key.quota_usd is not None:
        spent = Decimal(getattr(key, "budget_usd_spent", 0) or 0)
        left.append(f"${max(key.quota_usd - spent, Decimal(0)):,.4f}")
    if not left:
        return "—"
    return f"{' · '.join(left)} this {key.quota_period}"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "upstream", "token", "enabled")
    list_filter = ("kind", "enabled")
    radio_fields = {"kind": admin.VERTICAL}
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled")}),
        ("Upstream", {"fields": ("base_url", "account_id", "extra_headers", "connect_timeout", "read_timeout")}),
        ("Token", {"fields": ("api_token_env", "api_token", "clear_api_token")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Provider | None = None) -> Any:
        if obj is not None:
            return self.fieldsets
        # A new provider has no stored token to clear.
        return tuple(
            (title, {"fields": tuple(name for name in options["fields"] if name != "clear_api_token")})
            for title, options in self.fieldsets
        )

    @admin.display(description="Base URL", ordering="base_url")
    def upstream(self, obj: Provider) -> str:
        return obj.base_url or "environment"

    @admin.display(description="Token")
    def token(self, obj: Provider) -> str:
        return obj.token_source()


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = ("name_and_health", "served_by", "upstream_model", "priority", "capabilities", "enabled")
    list_display_links = ("name_and_health",)
    list_editable = ("upstream_model", "priority", "enabled")
    list_filter = (
        "task",
        "enabled",
        "provider",
        "supports_tools",
        "supports_vision",
        "supports_json_mode",
        "reasoning",
    )
    search_fields = ("public_name", "upstream_model")
    list_select_related = ("provider",)

    @admin.display(description="Task, provider", ordering="task")
    def served_by(self, obj: ModelRoute) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', obj.get_task_display(), obj.provider.name)

    actions = ["end_cooldown"]

    @admin.display(description="Capabilities")
    def capabilities(self, obj: ModelRoute) -> str:
        return route_capabilities(obj)

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """The page's routes with their cooldown state, read in one Redis round trip."""
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluated once: the template iterates these objects
        try:
            known = cooldown.states(route.pk for route in page)
        except Exception:  # Redis away: the list still shows, the column says so
            known = {}
        for route in page:
            route.cooldown_state = known.get(route.pk)
        return changelist

    @admin.display(description="Public name", ordering="public_name")
    def name_and_health(self, obj: ModelRoute) -> str:
        """The name, and under it the route's health when it is not plain: cooling down (skipped
        while another route of its name is not), or recent failures; "health unknown" without Redis."""
        state = getattr(obj, "cooldown_state", None)
        if state is None:
            note = "health unknown"
        elif state.cooling:
            note = f"cooling down, {cooldown.seconds_left(state)} s left"
        elif state.failures:
            note = f"{state.failures} recent failure(s)"
        else:
            return obj.public_name
        return format_html('{}<br><span class="quiet gw-health">{}</span>', obj.public_name, note)

    @admin.action(description="End the cooldown of the selected routes", permissions=["change"])
    def end_cooldown(self, request: HttpRequest, queryset: QuerySet[ModelRoute]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        try:
            cooldown.clear(ids)
        except Exception as exc:  # Redis away: say so on the page rather than a 500
            failed = f"Cooldowns unchanged: Redis did not answer ({type(exc).__name__})."
            self.message_user(request, failed, messages.ERROR)
            return
        self.message_user(request, f"{len(ids)} route(s) tried again in their turn from now.")


_ISSUED = "gateway_issued_api_key"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = (
        "key",
        "owner",
        "requests_today",
        "tokens_today",
        "budget_left",
        "last_used_at",
        "is_active",
    )
    list_filter = ("revoked_at", "expires_at", "quota_period")
    search_fields = ("name", "prefix", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fieldsets = (
        (None, {"fields": ("name", "owner", "prefix", "allowed_models")}),
        ("Rate limits", {"fields": ("rpm_limit", "tpm_limit", "model_limits")}),
        ("Budget", {"fields": ("quota_tokens", "quota_usd", "quota_period")}),
        ("Lifetime", {"fields": ("expires_at", "revoked_at", "created_at", "last_used_at")}),
    )
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "gateway_apikey_changelist":
            queryset = with_usage_columns(queryset)
        return queryset

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="Key", ordering="name")
    def key(self, obj: ApiKey) -> str:
        return format_html('{}<br><span class="quiet">{}…</span>', obj.name, obj.prefix)

    @admin.display(description="Requests today", ordering="requests_today")
    def requests_today(self, obj: ApiKey) -> str:
        return f"{getattr(obj, 'requests_today', 0):,}"

    @admin.display(description="Tokens today", ordering="tokens_today")
    def tokens_today(self, obj: ApiKey) -> str:
        return f"{getattr(obj, 'tokens_today', 0):,}"

    @admin.display(description="Budget left")
    def budget_left(self, obj: ApiKey) -> str:
        return budget_left(obj)

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if not change:
            setattr(request, _ISSUED, obj.issue())  # for response_add, on this request only
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """The new key's plaintext in this answer's page, never in a message: messages travel in a
        cookie, which the browser stores and sends back, readable by whatever sees either."""
        plaintext = getattr(request, _ISSUED, None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "key": obj,
            "plaintext": plaintext,
            "title": "API key added",
        }
        response = TemplateResponse(request, "admin/gateway/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

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
    list_display = ("created_at", "key_prefix", "requested", "outcome", "tokens", "latency_ms", "cost")
    list_filter = (
        "status",
        "endpoint",
        "streamed",
        "cached",
        "usage_estimated",
        "public_model",
        "provider",
        "api_key",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("request_id", "key_prefix", "public_model", "upstream_model")
    date_hierarchy = "created_at"
    list_select_related = ("api_key",)

    @admin.display(description="Model", ordering="public_model")
    def requested(self, obj: UsageRecord) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', obj.public_model or "—", obj.endpoint)

    @admin.display(description="Status", ordering="status")
    def outcome(self, obj: UsageRecord) -> str:
        return format_html(
            '{}<br><span class="quiet">{}</span>', f"{obj.status} {obj.error_code}".strip(), usage_flags(obj)
        )

    @admin.display(description="Cost (USD)", ordering="cost_usd")
    def cost(self, obj: UsageRecord) -> str:
        return "unpriced" if obj.cost_usd is None else f"{obj.cost_usd:.8f}".rstrip("0").rstrip(".")

    @admin.display(description="Tokens in + out", ordering="total_tokens")
    def tokens(self, obj: UsageRecord) -> str:
        return f"{obj.prompt_tokens:,} + {obj.completion_tokens:,}"

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
