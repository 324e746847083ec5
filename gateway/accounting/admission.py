"""Admission: per-key requests and tokens per minute, and the key's budgets (gateway/accounting/quotas.py).

`admit` runs once per request, after its routes are resolved and before any upstream call, and
either raises a 429 or returns an Admission that settle (gateway/accounting/ledger.py) corrects to real usage.
It is one Redis round trip, whatever the key's limits (gateway/accounting/counters.py `_ADMIT`):
the counters below, the request's lease (gateway/accounting/spool.py), and the version stamps of
the key, routes and prices the request was served from (gateway/stamps.py). Stamps that moved
since the request read them raise `Stale`, having handed back what was counted: the view admits
the request again on fresh data, before any upstream call.

- Requests per minute: a fixed one-minute window per key, staggered by the key's id as
  django-ratelimit staggers its windows (its `_get_window`), counted in the admission script
  rather than by django-ratelimit's cache.add + INCR (two more round trips per limit). A refused
  request counts too, as at OpenAI ("unsuccessful requests contribute to your per-minute limit").
- Tokens per minute and budgets count amounts; they are reserved all-or-none in aligned one-minute
  windows (budgets in their period). A refused request reserves nothing.
- A key's `model_limits` add counters for one public model, next to the key-wide ones.

What is reserved (README "Limits and quotas"): tokens per minute take the prompt estimate plus
max_tokens when the client sent it (OpenAI counts max_tokens too; without one the gateway's own
cap is the context window, which would refuse anything under a small limit). A budget must never
be overdrawn, so it takes the prompt estimate plus the completion cap the upstream will actually
be held to (gateway/accounting/tokens.py). Settling replaces each reservation with the real usage; a cached
answer counts as a request but spends no tokens and no money.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass, field

from django.http import HttpRequest

from gateway import stamps
from gateway.access.auth import KeyPrincipal
from gateway.accounting import counters, metrics, pricing, quotas, spool
from gateway.accounting.counters import Counter
from gateway.accounting.entry import Demand, UsageEntry
from gateway.accounting.ledger import record_row
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

_WINDOW = 60  # seconds: both limits are per minute


def duration(seconds: float) -> str:
    """OpenAI's reset format: "850ms" under a second, else seconds ("12s", "1.5s")."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    return f"{round(seconds, 1):g}s"


@dataclass(frozen=True)
class Window:
    """One limit's state after this request: what the x-ratelimit-* headers report."""

    scope: str  # "key" or the public model name
    limit: int
    used: int
    reset: float  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def _binding(windows: list[Window]) -> Window | None:
    return min(windows, key=lambda w: (w.remaining, w.limit), default=None)


def headers_for(requests: list[Window], tokens: list[Window]) -> dict[str, str]:
    headers = {}
    for unit, window in (("requests", _binding(requests)), ("tokens", _binding(tokens))):
        if window is not None:
            headers[f"x-ratelimit-limit-{unit}"] = str(window.limit)
            headers[f"x-ratelimit-remaining-{unit}"] = str(window.remaining)
            headers[f"x-ratelimit-reset-{unit}"] = duration(window.reset)
    return headers


def _limits(principal: KeyPrincipal, model: str) -> list[tuple[str, int | None, int | None]]:
    scoped = [("key", principal.rpm_limit, principal.tpm_limit)]
    scoped += [(model, rpm, tpm) for name, rpm, tpm in principal.model_limits if name == model]
    return scoped


def _scope_key(principal: KeyPrincipal, scope: str) -> str:
    return f"{principal.key_id}" if scope == "key" else f"{principal.key_id}:model:{scope}"


def _request_window(principal: KeyPrincipal, scope: str, limit: int, now: float) -> tuple[Counter, float]:
    """The scope's requests-per-minute counter and the seconds until its window rolls over.

    The window `w` serves the whole seconds up to and including w, each key's offset by the CRC32
    of its counter name, so the keys' windows do not all reset at once (django-ratelimit's rule).
    """
    value = _scope_key(principal, scope)
    second = int(now)
    end = second - second % _WINDOW + zlib.crc32(value.encode()) % _WINDOW
    if end < second:
        end += _WINDOW
    return Counter(f"rpm:{value}:{end}", limit, end - second + 2), max(end + 1 - now, 0.001)


def _token_counter(principal: KeyPrincipal, scope: str, limit: int, now: float) -> Counter:
    return Counter(f"tpm:{_scope_key(principal, scope)}:{int(now // _WINDOW)}", limit, _WINDOW + 5)


class Stale(Exception):
    """The key, routes or prices changed after the request read them; nothing is held for it now."""


@dataclass
class Admission:
    """What admission reserved, and the headers to put on every answer to this request."""

    headers: dict[str, str] = field(default_factory=dict)
    tokens: list[Counter] = field(default_factory=list)  # TPM counters and the token budget
    budgets_usd: list[Counter] = field(default_factory=list)
    reserved: dict[Counter, int] = field(default_factory=dict)
    settled: bool = False

    def deltas(self, entry: UsageEntry) -> list[tuple[Counter, int]]:
        """What replaces each reservation by what the request really used (settle applies them)."""
        if not self.reserved:
            return []
        used = 0 if entry.cached else entry.prompt_tokens + entry.completion_tokens
        cost = 0
        if self.budgets_usd and not entry.cached:
            consumed = pricing.Consumption(
                entry.prompt_tokens, entry.completion_tokens, entry.audio_seconds, entry.images, entry.characters
            )
            cost = quotas.micros(pricing.cost_of(entry.upstream_model, consumed))
        deltas = [(counter, used - self.reserved[counter]) for counter in self.tokens]
        deltas += [(counter, cost - self.reserved[counter]) for counter in self.budgets_usd]
        return deltas

    def release(self) -> list[tuple[Counter, int]]:
        """Every reservation handed back whole."""
        return [(counter, -amount) for counter, amount in self.reserved.items()]


def admit(request: HttpRequest, entry: UsageEntry, *, demand: Demand, upstream_model: str) -> Admission:
    """Count this request's demand against the key's limits and budgets, or raise 429.

    `entry.public_model` names the per-model limits; `upstream_model` prices a USD budget's draw.
    What is reserved is written into the request's lease in the same step, so it is released even
    if the process serving the request dies (gateway/accounting/spool.py). Raises `Stale` when the
    stamps differ from `entry.stamps`, those the request's data was read under.
    """
    principal, model = entry.principal, entry.public_model
    # The record of a request that never settles: stamped when it is found interrupted.
    lease = {**record_row(entry), "upstream_model": upstream_model, "created_at": None}
    limited = principal is not None and principal.key_id is not None  # not the static ACCESS_TOKEN
    scoped = _limits(principal, model) if limited else []
    budgets = quotas.budgets_for(principal) if limited else []
    now = time.time()
    hits = [(scope, *_request_window(principal, scope, rpm, now)) for scope, rpm, _ in scoped if rpm]
    tpm = [(scope, _token_counter(principal, scope, limit, now)) for scope, _, limit in scoped if limit]
    rate_tokens = demand.prompt_tokens + demand.completion_requested
    budget_tokens = demand.prompt_tokens + demand.completion_bound
    amounts = [(counter, rate_tokens) for _, counter in tpm]
    for budget in budgets:
        amount = quotas.charge(budget, tokens=budget_tokens, upstream_model=upstream_model, demand=demand)
        amounts.append((budget.counter, amount))
    budget_counters = {budget.counter for budget in budgets}
    lease_data = spool.lease_data(lease, amounts)
    # Redis unreachable: the error goes up (a 503: README, "Errors"), limits or none, as
    # a request that cannot be leased, checked and counted is not served.
    for _ in range(3):  # a budget seeded meanwhile by another worker is simply there the next time
        verdict = counters.admit(
            spool.admission_keys(),
            (entry.request_id, time.time() + spool.lease_seconds(), lease_data),
            [counter for _, counter, _ in hits],
            [(counter, amount, counter in budget_counters) for counter, amount in amounts],
        )
        if verdict.code != counters.UNSEEDED:
            break
        quotas.seed_missing(budgets)  # a budget Redis lost starts from the ledger's total, then again
    else:
        raise RuntimeError(f"budgets of key {principal.key_id if principal else None} could not be seeded")

    current = stamps.decode(verdict.stamps)
    stamps.observe(current)
    if entry.stamps is not None and entry.stamps != current:
        entry.stamps = current
        _hand_back(verdict, hits, amounts)
        raise Stale
    if verdict.code == counters.ADMITTED:
        spool.KEEPER.keep(entry.request_id)

    token_reset = _WINDOW - now % _WINDOW
    requests = [Window(scope, c.limit, used, reset) for (scope, c, reset), used in zip(hits, verdict.hits, strict=True)]
    tpm_used = verdict.amounts[: len(tpm)]
    tokens = [Window(scope, c.limit, used, token_reset) for (scope, c), used in zip(tpm, tpm_used, strict=True)]
    headers = headers_for(requests, tokens)
    if verdict.code == counters.OVER_RATE:
        metrics.count_refusal("rpm")
        raise _rate_refusal(requests[verdict.index - 1], "requests per min (RPM)", 1, headers)
    if verdict.code == counters.NO_ROOM:
        counter, amount = amounts[verdict.index - 1]
        used = verdict.amounts[verdict.index - 1]
        budget = next((b for b in budgets if b.counter == counter), None)
        if budget is not None:
            metrics.count_refusal("quota")
            raise quotas.refusal(budget, used, amount, headers)
        metrics.count_refusal("tpm")
        raise _rate_refusal(tokens[verdict.index - 1], "tokens per min (TPM)", rate_tokens, headers)
    return Admission(
        headers=headers,
        tokens=[counter for _, counter in tpm] + [b.counter for b in budgets if b.unit == quotas.TOKENS],
        budgets_usd=[b.counter for b in budgets if b.unit == quotas.USD],
        reserved=dict(amounts),
    )


def _hand_back(
    verdict: counters.Verdict, hits: list[tuple[str, Counter, float]], amounts: list[tuple[Counter, int]]
) -> None:
    """Undo what a stale admission counted: its hits, and its reservations if it made them. Its
    lease, if opened, is closed when the request settles, as any other."""
    deltas = [(counter, -1) for _, counter, _ in hits] if verdict.code != counters.UNSEEDED else []
    if verdict.code == counters.ADMITTED:
        deltas += [(counter, -amount) for counter, amount in amounts]
    counters.adjust(deltas)


def _rate_refusal(window: Window, what: str, requested: int, headers: dict[str, str]) -> GatewayError:
    scope = "this key" if window.scope == "key" else f"{window.scope} on this key"
    if requested > window.limit:
        message = (
            f"Request too large for {scope} on {what}: Limit {window.limit}, Requested {requested}. "
            "Send a smaller request (a shorter prompt or a lower max_tokens)."
        )
    else:
        message = (
            f"Rate limit reached for {scope} on {what}: Limit {window.limit}, Used {min(window.used, window.limit)}, "
            f"Requested {requested}. Please try again in {duration(window.reset)}."
        )
    return GatewayError(
        429,
        message,
        code="rate_limit_exceeded",
        headers={**headers, "Retry-After": str(max(1, math.ceil(window.reset)))},
    )
