"""A Redis cache of non-streaming answers (chat, completions, embeddings): a repeated deterministic
request costs no upstream call.

Cached: deterministic requests (chat and completions with temperature 0 or a seed; embeddings
always), and any request sent with `X-Gateway-Cache: use`.
`Cache-Control: no-store` skips the cache entirely; `no-cache` skips the lookup but stores the fresh
answer. The key hashes the whole validated request with the identities of the routes that would
serve it, so a remap or any new request field (tools, images, …) makes a different entry. Entries
are shared by the keys of one owner and never across owners: a hit, visible in `x-cache`, would
otherwise tell one tenant what another had asked.

Redis trouble never fails a request: the lookup counts as a miss and the store is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from gateway import plain_data
from gateway.access.auth import KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.errors import invalid

log = logging.getLogger(__name__)

OPT_IN_HEADER = "X-Gateway-Cache"
OPT_IN_VALUE = "use"
STATUS_HEADER = "x-cache"

# Every key starts with the family and a version: bump the version when the key's inputs or the
# stored value change shape, and entries written by older code are never found again (they expire).
_KEY_FAMILY = "chatcache:"
_KEY_VERSION = _KEY_FAMILY + "v2:"  # v2: stored as JSON (gateway/plain_data.py), no longer pickled

# RouteTarget fields that do not change what the upstream answers.
_NOT_IDENTITY = {"public_name", "created", "cache_ttl_seconds"}


@dataclass(frozen=True)
class CachedAnswer:
    body: dict[str, Any]
    upstream_model: str
    provider: str

    def replay(self, entry: UsageEntry) -> dict[str, Any]:
        """The body for this hit, with an id and time of its own, and the usage entry filled in."""
        usage = self.body.get("usage") or {}
        entry.cached = True
        entry.upstream_model, entry.provider = self.upstream_model, self.provider
        # The tokens the upstream would have charged again: recorded so cost reports can count them
        # as saved (issue 4's prices should price cached rows as savings, not spend).
        entry.prompt_tokens = usage.get("prompt_tokens", 0)
        entry.completion_tokens = usage.get("completion_tokens", 0)
        if "id" not in self.body:  # an answer without identity (a list of embeddings) replays as it was
            return self.body
        choices = [_with_fresh_call_ids(choice) for choice in self.body.get("choices", [])]
        kind = str(self.body["id"]).split("-", 1)[0]  # chatcmpl- or cmpl-
        return {**self.body, "id": f"{kind}-{secrets.token_hex(12)}", "created": int(time.time()), "choices": choices}


def _with_fresh_call_ids(choice: dict[str, Any]) -> dict[str, Any]:
    """Tool calls get new ids on a hit: clients key tool results by them, as they do completions."""
    message = choice.get("message") or {}
    calls = message.get("tool_calls")
    if not calls:
        return choice
    fresh = [{**call, "id": f"call_{secrets.token_hex(12)}"} for call in calls]
    return {**choice, "message": {**message, "tool_calls": fresh}}


@dataclass(frozen=True)
class CachePlan:
    """What this request does with the cache; `status` is the x-cache value before any lookup."""

    key: str | None  # None: neither looked up nor stored
    lookup_allowed: bool
    ttl: int
    status: str | None  # miss | refresh | bypass; None when caching is off for this route

    def lookup(self) -> CachedAnswer | None:
        if self.key is None or not self.lookup_allowed:
            return None
        try:
            value = cache.get(self.key)
        except Exception:
            log.warning("response cache lookup failed; answering from the upstream", exc_info=True)
            return None
        return plain_data.from_stored(value, CachedAnswer)

    def store(self, body: dict[str, Any], entry: UsageEntry) -> None:
        """Keep a successful answer; errors never get here (they are raised, not returned)."""
        if self.key is None:
            return
        answer = CachedAnswer(body=body, upstream_model=entry.upstream_model, provider=entry.provider)
        try:
            cache.set(self.key, plain_data.to_plain(answer), timeout=self.ttl)
        except Exception:
            log.warning("response cache store failed; the answer was not cached", exc_info=True)

    def headers(self, hit: bool) -> dict[str, str]:
        if self.status is None:
            return {}
        return {STATUS_HEADER: "hit" if hit else self.status}


_OFF = CachePlan(key=None, lookup_allowed=False, ttl=0, status=None)


def _directives(cache_control: str) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in cache_control.split(",")}


def _opted_in(headers: Any) -> bool:
    value = headers.get(OPT_IN_HEADER)
    if value is None:
        return False
    if value.strip().lower() != OPT_IN_VALUE:
        raise invalid(f"The {OPT_IN_HEADER} header accepts only '{OPT_IN_VALUE}'; got '{value}'.")
    return True


def _key(body: Any, targets: tuple[RouteTarget, ...], principal: KeyPrincipal) -> str:
    identities = []
    for target in targets:  # in priority order: a reordering may change who answers
        identity = {name: value for name, value in asdict(target).items() if name not in _NOT_IDENTITY}
        identity["provider"] = target.provider.name  # not its URL or token: those may differ per process
        identities.append(identity)
    scope = f"owner:{principal.owner_id}" if principal.owner_id is not None else f"key:{principal.prefix}"
    canonical = json.dumps(
        {"scope": scope, "targets": identities, "kind": type(body).__name__, "request": asdict(body)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return _KEY_VERSION + hashlib.sha256(canonical.encode()).hexdigest()


def cache_plan_for(body: Any, targets: tuple[RouteTarget, ...], principal: KeyPrincipal, headers: Any) -> CachePlan:
    """The cache plan of a validated, non-streaming request (a dataclass whose `deterministic` says
    whether the same request always gets the same answer); `headers` are the request's."""
    opted_in = _opted_in(headers)
    ttl = targets[0].cache_ttl_seconds
    if ttl is None:
        ttl = settings.GATEWAY_CACHE_TTL_SECONDS
    if not settings.GATEWAY_CACHE_TTL_SECONDS or not ttl:
        return _OFF
    directives = _directives(headers.get("Cache-Control", ""))
    deterministic = body.deterministic
    if "no-store" in directives or not (deterministic or opted_in):
        return CachePlan(key=None, lookup_allowed=False, ttl=ttl, status="bypass")
    try:
        key = _key(body, targets, principal)
    except (TypeError, ValueError):  # a request field JSON cannot spell: answer it uncached
        log.exception("response cache key could not be built")
        return CachePlan(key=None, lookup_allowed=False, ttl=ttl, status="bypass")
    fresh = "no-cache" in directives
    return CachePlan(key=key, lookup_allowed=not fresh, ttl=ttl, status="refresh" if fresh else "miss")


def clear() -> int:
    """Drop every cached answer under this deployment's key prefix; returns how many.

    For tests, and for an operator after an upstream model changed behind an unchanged name. It
    walks the keys with SCAN (never KEYS, which would block Redis), using the client under Django's
    cache because the cache API has no delete-by-pattern.
    """
    client = cache._cache.get_client(write=True)
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", cache.make_key(_KEY_FAMILY)) + "*"  # the prefix is literal
    dropped = 0
    batch: list[bytes] = []
    for name in client.scan_iter(match=pattern, count=500):
        batch.append(name)
        if len(batch) == 500:
            dropped += client.delete(*batch)
            batch.clear()
    if batch:
        dropped += client.delete(*batch)
    return dropped
