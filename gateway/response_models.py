"""Stored responses of POST /v1/responses (`store: true`, OpenAI's default).

A response belongs to its key's owner, so every key of that owner reads it (a key without an owner
and the static ACCESS_TOKEN own theirs alone). One older than GATEWAY_RESPONSE_RETENTION_DAYS is
gone for clients at once (404) and deleted by `manage.py prune_responses`. Re-exported by
gateway/models.py, Django's models module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


def retention_cutoff() -> datetime | None:
    """Responses stored before this are expired; None when they are kept until deleted."""
    days = settings.GATEWAY_RESPONSE_RETENTION_DAYS
    return timezone.now() - timedelta(days=days) if days else None


class StoredResponseQuerySet(models.QuerySet["StoredResponse"]):
    def visible_to(self, owner_id: int | None, key_id: int | None) -> StoredResponseQuerySet:
        """Unexpired ones of this owner; without one, of this key (or of the static ACCESS_TOKEN)."""
        cutoff = retention_cutoff()
        rows = self if cutoff is None else self.filter(created_at__gte=cutoff)
        if owner_id is not None:
            return rows.filter(owner_id=owner_id)
        return rows.filter(owner__isnull=True, api_key_id=key_id)

    def conversation(self, last_id: str, owner_id: int | None, key_id: int | None, limit: int) -> list[StoredResponse]:
        """`last_id` and the responses it continues (previous_response_id, then theirs…), oldest
        first, as far back as they are visible to this owner (at most `limit`): one statement,
        however long the conversation. Empty when `last_id` itself is not visible."""
        cutoff = retention_cutoff()
        if owner_id is not None:
            scope, params = "s.owner_id = %s", [owner_id]
        elif key_id is not None:
            scope, params = "s.owner_id IS NULL AND s.api_key_id = %s", [key_id]
        else:
            scope, params = "s.owner_id IS NULL AND s.api_key_id IS NULL", []
        if cutoff is not None:
            scope, params = f"{scope} AND s.created_at >= %s", [*params, cutoff]
        table = self.model._meta.db_table
        sql = f"""
            WITH RECURSIVE chain AS (
                SELECT s.id, s.previous_response_id, 1 AS depth FROM {table} s WHERE s.id = %s AND {scope}
                UNION ALL
                SELECT s.id, s.previous_response_id, chain.depth + 1 FROM {table} s
                JOIN chain ON s.id = chain.previous_response_id WHERE chain.depth < %s AND {scope}
            )
            SELECT s.id, s.input_items, s.body, s.previous_response_id FROM chain
            JOIN {table} s ON s.id = chain.id ORDER BY chain.depth DESC
        """  # the table name is the model's own; every value is a parameter
        return list(self.raw(sql, [last_id, *params, limit, *params]))


class StoredResponse(models.Model):
    id = models.CharField(primary_key=True, max_length=64)  # resp_<hex>, as the client saw it
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    api_key = models.ForeignKey("gateway.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200)
    # The request's input items, normalised and with ids (what GET …/input_items lists).
    input_items = models.JSONField(default=list)
    body = models.JSONField()  # the response object as the client got it
    previous_response_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = StoredResponseQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"], name="stored_response_owner")]

    def __str__(self) -> str:
        return self.id

    @property
    def output_items(self) -> list[dict[str, Any]]:
        output = self.body.get("output") if isinstance(self.body, dict) else None
        return output if isinstance(output, list) else []
