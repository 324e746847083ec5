"""Admission: per-key requests and tokens per minute, and the key's budgets (gateway/accounting/quotas.py).

`admit` runs once per request, after its routes are resolved and before any upstream call, and
either raises a 429 or returns an Admission that settle (gateway/accounting/ledger.py) corrects to real usage.

- Requests per minute are django-ratelimit's fixed-window counters (`core.get_usage`, increment
  on): cache.add + INCR on the shared Redis, atomic, so exact across workers. A refused request
  counts too, as at OpenAI ("unsuccessful requests contribute to your per-minute limit").
- Tokens per minute and budgets count amounts, which django-ratelimit cannot (it adds 1 per
  call); they are reserved all-or-none by one Redis script (gateway/accounting/counters.py) in aligned
  one-minute windows. A refused request reserves nothing.
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
from dataclasses import dataclass, field

from django.http import HttpRequest
from django_ratelimit.core import get_usage

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


def _count_request(request: HttpRequest, principal: KeyPrincipal, scope: str, limit: int) -> Window:
    value = _scope_key(principal, scope)
    usage = get_usage(request, group="gateway.rpm", key=lambda group, req: value, rate=f"{limit}/m", increment=True)
    if usage is None:  # RATELIMIT_ENABLE off
        return Window(scope, limit, 0, _WINDOW)
    # django-ratelimit's window `w` serves the whole seconds up to and including w, so it rolls
    # over at w + 1; time_left is w - int(now).
    now = time.time()
    reset = usage["time_left"] + 1 - (now - int(now))
    return Window(scope, limit, usage["count"], max(reset, 0.001))


def _token_counter(principal: KeyPrincipal, scope: str, limit: int, now: float) -> Counter:
    return Counter(f"tpm:{_scope_key(principal, scope)}:{int(now // _WINDOW)}", limit, _WINDOW + 5)


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
    if the process serving the request dies (gateway/accounting/spool.py).
    """
    principal, model = entry.principal, entry.public_model
    # The record of a request that never settles: stamped when it is found interrupted.
    lease = {**record_row(entry), "upstream_model": upstream_model, "created_at": None}
    if principal is None or principal.key_id is None:
        _note_lease(spool.lease_note(entry.request_id, lease))
        return Admission()  # the static ACCESS_TOKEN has no limits
    scoped = _limits(principal, model)
    budgets = quotas.budgets_for(principal)
    if not any(rpm or tpm for _, rpm, tpm in scoped) and not budgets:
        _note_lease(spool.lease_note(entry.request_id, lease))
        return Admission()

    now = time.time()
    token_reset = _WINDOW - now % _WINDOW
    requests = [_count_request(request, principal, scope, rpm) for scope, rpm, _ in scoped if rpm]
    tpm = [(scope, _token_counter(principal, scope, limit, now)) for scope, _, limit in scoped if limit]
    over = next((window for window in requests if window.used > window.limit), None)
    if over is not None:
        peeked = _peek([counter for _, counter in tpm])
        tokens = [Window(scope, c.limit, peeked[c], token_reset) for scope, c in tpm]
        headers = headers_for(requests, tokens)
        metrics.count_refusal("rpm")
        raise _rate_refusal(over, "requests per min (RPM)", 1, headers)

    rate_tokens = demand.prompt_tokens + demand.completion_requested
    budget_tokens = demand.prompt_tokens + demand.completion_bound
    quotas.seed_missing(budgets)
    amounts = [(counter, rate_tokens) for _, counter in tpm]
    for budget in budgets:
        amount = quotas.charge(budget, tokens=budget_tokens, upstream_model=upstream_model, demand=demand)
        amounts.append((budget.counter, amount))
    note = spool.lease_note(entry.request_id, lease, amounts)
    outcome = counters.reserve(amounts, note)
    if not amounts:
        _note_lease(note)

    if outcome.refused is not None:
        peeked = _peek([counter for _, counter in tpm])
        peeked.update(outcome.used)
        tokens = [Window(scope, c.limit, peeked[c], token_reset) for scope, c in tpm]
        headers = headers_for(requests, tokens)
        budget = next((b for b in budgets if b.counter == outcome.refused), None)
        if budget is not None:
            amount = dict(amounts)[budget.counter]
            metrics.count_refusal("quota")
            raise quotas.refusal(budget, outcome.used[budget.counter], amount, headers)
        scope = next(scope for scope, counter in tpm if counter == outcome.refused)
        window = Window(scope, outcome.refused.limit, outcome.used[outcome.refused], token_reset)
        metrics.count_refusal("tpm")
        raise _rate_refusal(window, "tokens per min (TPM)", rate_tokens, headers)

    tokens = [Window(scope, c.limit, outcome.used[c], token_reset) for scope, c in tpm]
    return Admission(
        headers=headers_for(requests, tokens),
        tokens=[counter for _, counter in tpm] + [b.counter for b in budgets if b.unit == quotas.TOKENS],
        budgets_usd=[b.counter for b in budgets if b.unit == quotas.USD],
        reserved=dict(amounts),
    )


def _peek(watched: list[Counter]) -> dict[Counter, int]:
    if not watched:
        return {}
    values = counters.redis().mget([counter.redis_key for counter in watched])
    return {counter: int(value or 0) for counter, value in zip(watched, values, strict=True)}


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


def _note_lease(note: counters.Note) -> None:
    try:
        spool.write_note(note)
    except Exception:
        log.warning("lease of %s not updated: Redis unreachable", note.field, exc_info=True)
