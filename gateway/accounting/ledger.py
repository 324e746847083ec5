"""The usage ledger: exactly one UsageRecord per request, written once its outcome is known."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone

from gateway.access.auth import KeyPrincipal
from gateway.accounting import metrics, pricing, request_log
from gateway.accounting.entry import UsageEntry
from gateway.accounting.pricing import Consumption
from gateway.models import ApiKey, UsageRecord

log = logging.getLogger(__name__)

_LAST_USED_EVERY = 60  # seconds: last_used_at is a hint, not worth a write per request


def settle(entry: UsageEntry) -> None:
    """Called exactly once per request, streams included: the record, then what follows from it.

    Each step is guarded on its own: the client already has its answer, so a failure is logged,
    never turned into a 500, and never stops the steps after it.
    """
    if entry.settled:
        return
    entry.settled = True
    # Limits first: a Redis call that hands unused reservations back before the slower steps.
    for step in (_settle_limits, _write_record, _touch_key, metrics.observe, request_log.write):
        try:
            step(entry)
        except Exception:
            log.exception("usage step %s failed for %s", step.__name__, entry.request_id)


def _write_record(entry: UsageEntry) -> None:
    principal = entry.principal
    used = Consumption(entry.prompt_tokens, entry.completion_tokens, entry.audio_seconds, entry.images)
    cost = pricing.cost_of(entry.upstream_model, used)
    try:
        _create_record(entry, principal, cost)
    except IntegrityError:
        # request_id is unique: a second writer for the same request (never expected) loses.
        log.warning("usage record for %s already written; kept the first", entry.request_id)


def _create_record(entry: UsageEntry, principal: KeyPrincipal | None, cost: Decimal | None) -> None:
    # A cached answer spent nothing upstream: what it would have cost is recorded as saved.
    UsageRecord.objects.create(
        api_key_id=principal.key_id if principal else None,
        key_prefix=principal.prefix if principal else "",
        endpoint=entry.endpoint,
        public_model=entry.public_model,
        upstream_model=entry.upstream_model,
        provider=entry.provider,
        status=entry.status,
        error_code=entry.error_code,
        prompt_tokens=entry.prompt_tokens,
        completion_tokens=entry.completion_tokens,
        total_tokens=entry.prompt_tokens + entry.completion_tokens,
        latency_ms=entry.latency_ms,
        ttft_ms=entry.ttft_ms,
        streamed=entry.streamed,
        client_disconnected=entry.client_disconnected,
        cached=entry.cached,
        usage_estimated=entry.usage_estimated,
        cost_usd=Decimal(0) if entry.cached else cost,
        cost_saved_usd=(cost or Decimal(0)) if entry.cached else Decimal(0),
        request_id=entry.request_id,
    )


def _settle_limits(entry: UsageEntry) -> None:
    if entry.admission is not None:
        entry.admission.settle(entry)


def _touch_key(entry: UsageEntry) -> None:
    principal = entry.principal
    if principal and principal.key_id and cache.add(f"lastused:{principal.key_id}", 1, _LAST_USED_EVERY):
        ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())
