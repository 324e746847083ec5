"""Stored responses (POST /v1/responses with `store`) in the admin: who owns each, what it answered,
when it expires. Read-only, as the ledger is; an operator may delete them (a client's DELETE does
the same)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from gateway.models import StoredResponse
from gateway.response_models import retention_cutoff


def _pretty(value: Any) -> str:
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', json.dumps(value, indent=2))


@admin.register(StoredResponse)
class StoredResponseAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "key", "model", "state", "tokens", "created_at", "expiry")
    list_filter = ("model", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id", "previous_response_id", "owner__username", "api_key__prefix")
    date_hierarchy = "created_at"
    list_select_related = ("owner", "api_key")
    fields = ("id", "owner", "api_key", "model", "previous_response_id", "created_at", "response", "input")
    readonly_fields = fields

    @admin.display(description="Key", ordering="api_key__prefix")
    def key(self, row: StoredResponse) -> str:
        return row.api_key.prefix if row.api_key else "—"

    @admin.display(description="Status")
    def state(self, row: StoredResponse) -> str:
        return str(row.body.get("status", "—")) if isinstance(row.body, dict) else "—"

    @admin.display(description="Tokens in + out")
    def tokens(self, row: StoredResponse) -> str:
        usage = row.body.get("usage") if isinstance(row.body, dict) else None
        if not isinstance(usage, dict):
            return "—"
        return f"{usage.get('input_tokens', 0):,} + {usage.get('output_tokens', 0):,}"

    @admin.display(description="Expires")
    def expiry(self, row: StoredResponse) -> str:
        cutoff = retention_cutoff()
        if cutoff is None:
            return "never"
        if row.created_at < cutoff:
            return "expired (prune_responses deletes it)"
        return f"in {(row.created_at - cutoff).days} day(s)"

    @admin.display(description="Response")
    def response(self, row: StoredResponse) -> str:
        return _pretty(row.body)

    @admin.display(description="Input items")
    def input(self, row: StoredResponse) -> str:
        return _pretty(row.input_items)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # responses come from requests

    def has_change_permission(self, request: HttpRequest, obj: StoredResponse | None = None) -> bool:
        return False
