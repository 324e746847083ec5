"""Deferred settlement: a request whose work outlives it hands its usage record to whoever ends
that work (a Celery worker, say), so the record is still written once, through `settle`.

`hand_off` turns the request's entry and what admission reserved into a JSON ticket, stretches
the request's lease to the deadline the work promises, and stops this process renewing it (the
answer may leave now; nothing here writes the record). `settle_handed` rebuilds the entry from
the ticket in any process and settles it: one record, reservations corrected by what was used.
Should the work never end, the lease expires at the deadline and the ledger writer records the
request as interrupted and releases what it held (gateway/accounting/spool.py); a settle after
that writes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.access.auth import KeyPrincipal
from gateway.accounting import spool
from gateway.accounting.admission import Admission
from gateway.accounting.counters import Counter
from gateway.accounting.entry import UsageEntry
from gateway.accounting.ledger import settle

_ENTRY_FIELDS = ("request_id", "endpoint", "public_model", "upstream_model", "provider", "route_id", "attempts")


def _counter(raw: list[Any]) -> Counter:
    name, limit, ttl = raw
    return Counter(str(name), int(limit), int(ttl))


def hand_off(entry: UsageEntry, *, seconds: float) -> dict[str, Any]:
    """The ticket another process settles this request with; its lease now lasts `seconds`."""
    spool.KEEPER.forget(entry.request_id)
    spool.extend_lease(entry.request_id, seconds)
    entry.settled = True  # neither the view nor the ledger middleware writes it now
    principal = entry.principal
    admission = entry.admission or Admission()
    return {
        "entry": {name: getattr(entry, name) for name in _ENTRY_FIELDS},
        "principal": None
        if principal is None
        else {
            "key_id": principal.key_id,
            "name": principal.name,
            "prefix": principal.prefix,
            "owner_id": principal.owner_id,
        },
        "tokens": [[c.name, c.limit, c.ttl] for c in admission.tokens],
        "budgets_usd": [[c.name, c.limit, c.ttl] for c in admission.budgets_usd],
        "reserved": [[[c.name, c.limit, c.ttl], amount] for c, amount in admission.reserved.items()],
        "started_at": time.time() - entry.latency_ms / 1000,
    }


def settle_handed(
    ticket: dict[str, Any],
    *,
    status: int,
    error_code: str = "",
    images: int = 0,
    audio_seconds: float = 0.0,
    characters: int = 0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    route_id: int | None = None,
    attempts: int = 0,
) -> None:
    """Write the handed request's record with what its work used (once: a second call is a no-op
    in effect, the spool's script having closed the lease). `route_id`: the route the work's answer
    came from (or it tried last), replacing the ticket's; `attempts`: the work's upstream calls,
    added to those the request made before handing off."""
    raw_principal = ticket.get("principal")
    principal = None if raw_principal is None else KeyPrincipal(**raw_principal)
    entry = UsageEntry(principal=principal, **ticket["entry"])
    entry.status, entry.error_code = status, error_code
    entry.images, entry.audio_seconds, entry.characters = images, audio_seconds, characters
    entry.prompt_tokens, entry.completion_tokens = prompt_tokens, completion_tokens
    if route_id is not None:
        entry.route_id = route_id
    entry.attempts += attempts
    entry.latency_ms = max(0, int((time.time() - float(ticket.get("started_at") or time.time())) * 1000))
    entry.admission = Admission(
        tokens=[_counter(raw) for raw in ticket.get("tokens", [])],
        budgets_usd=[_counter(raw) for raw in ticket.get("budgets_usd", [])],
        reserved={_counter(raw): int(amount) for raw, amount in ticket.get("reserved", [])},
    )
    settle(entry)
