"""What accounting knows of a request: its demand before it runs and its usage entry after.

Both sit at the bottom of accounting. Every family fills the same two values, so admission,
limits, quotas, pricing, metrics and the ledger never look at a family's request type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.access.auth import KeyPrincipal

if TYPE_CHECKING:
    from gateway.accounting.admission import Admission


@dataclass(frozen=True)
class Demand:
    """A request's size before it runs, computed by its own family (its request.py).

    Admission reserves tokens per minute for `prompt_tokens + completion_requested` and draws a
    budget for `prompt_tokens + completion_bound` (README "Limits and quotas"); the other amounts
    are priced against a USD budget by the upstream model's price (gateway/accounting/pricing.py).
    """

    requests: int = 1
    prompt_tokens: int = 0  # the estimate of everything sent upstream
    completion_requested: int = 0  # max_tokens × choices when the client set max_tokens; else 0
    completion_bound: int = 0  # the most the upstream may generate (0 when no cap is known)
    audio_seconds: float = 0.0
    characters: int = 0
    images: int = 0


@dataclass
class UsageEntry:
    """Filled in as a request proceeds; `settle` writes it."""

    request_id: str
    endpoint: str
    principal: KeyPrincipal | None
    public_model: str = ""
    upstream_model: str = ""
    provider: str = ""
    status: int = 200
    error_code: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    ttft_ms: int | None = None
    streamed: bool = False
    client_disconnected: bool = False
    cached: bool = False  # answered from the response cache (gateway/cache/responses.py)
    # Set only with GATEWAY_LOG_PROMPTS on (gateway/http/metered_view.py); never stored in the ledger.
    prompt_excerpt: str = ""
    usage_estimated: bool = False  # the upstream reported no usage: the tokens are the gateway's estimate
    audio_seconds: float = 0.0  # priced per audio minute (gateway/accounting/pricing.py)
    characters: int = 0  # priced per million characters (text to speech)
    images: int = 0  # priced per image
    settled: bool = False  # set by settle(): a second call writes nothing
    # Spent by attempts that failed part-way (n > 1, several prompts or inputs): settle adds them to
    # the tokens, so a fallback does not hide the answers an upstream gave (README "Providers,
    # routing, fallbacks and cooldowns").
    failed_prompt_tokens: int = 0
    failed_completion_tokens: int = 0
    route_id: int | None = None  # the model route that answered (or was tried last)
    attempts: int = 0  # upstream attempts: every route tried and every retry
    upstream_latency_ms: int | None = None  # the deciding upstream call; to its headers for streams
    admission: Admission | None = None  # gateway/accounting/admission.py: reservations that settle corrects
    # The stamps this request's key, routes and prices were read under (gateway/stamps.py), which
    # admission checks; None: not checked (an entry rebuilt in another process).
    stamps: dict[str, str] | None = None

    def spent_by_failed_attempt(self, prompt_tokens: int, completion_tokens: int, *, estimated: bool) -> None:
        self.failed_prompt_tokens += prompt_tokens
        self.failed_completion_tokens += completion_tokens
        self.usage_estimated |= estimated and bool(prompt_tokens or completion_tokens)
