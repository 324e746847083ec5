"""Exactly one usage record for every /v1/ request, including those no view settles; none for a
request refused for its key (gateway/accounting/ledger.py refused_for_its_key).

A request refused before its view runs (404 unknown URL, 405, 413, a throttle) and an
endpoint that records nothing itself (model listing, /v1/usage) would otherwise leave no trace.
This middleware gives each /v1/ request a UsageEntry; views that record usage take it over
with `entry_for` and settle it as before. When the response is closed — after the body is on the
wire, so the write never delays the client — whatever is still unsettled is settled from the
response: status, the envelope's error code, the key if authentication got that far.

A stream whose generator never started (the client left before the first byte) never runs its
own `finally`; it is settled here too, as a disconnected request.

Each request also holds a lease (gateway/accounting/spool.py): should its process die before any
of this runs, the ledger writer records it as interrupted. A model endpoint's view opens it in
its admission's round trip, before any upstream call (a request refused earlier has cost nothing
upstream and settles at once); every other /v1/ request opens it here as it arrives.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

from gateway import stamps
from gateway.access.auth import ApiKeyAuthentication, KeyPrincipal
from gateway.accounting.entry import UsageEntry
from gateway.accounting.ledger import open_lease, settle
from gateway.errors import GatewayError
from gateway.http.envelope import error_response, unavailable

log = logging.getLogger(__name__)

_PREFIX = "/v1/"
UNKNOWN_ENDPOINT = "unknown"


def entry_for(request: HttpRequest, endpoint: str, principal: KeyPrincipal | None) -> UsageEntry:
    """The request's UsageEntry, now owned by the view that will settle it."""
    entry = getattr(request, "usage_entry", None)
    if entry is None:  # served without this middleware: the view's own entry
        entry = UsageEntry(request_id=request.request_id, endpoint=endpoint, principal=principal)
        request.usage_entry = entry
    entry.endpoint, entry.principal = endpoint, principal
    return entry


_NAMED_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")


def endpoint_of(path: str) -> str:
    """`chat.completions` for /v1/chat/completions, `models` for /v1/models/{id}; `unknown` for a
    path no route serves, so a client cannot fill the ledger with endpoint names of its choosing."""
    return _path_facts(path)[0]


@lru_cache(maxsize=4096)  # paths are client input: bounded; the hot ones are a handful
def _path_facts(path: str) -> tuple[str, bool]:
    """The path's endpoint name, and whether its view opens the lease at admission (MeteredView)."""
    try:
        match = resolve(path)
    except Resolver404:
        return UNKNOWN_ENDPOINT, False
    admits = bool(getattr(getattr(match.func, "view_class", None), "leases_at_admission", False))
    return _endpoint_name(match.route), admits


def _endpoint_name(route: str) -> str:
    # A regex route's named groups (which may hold "/", as in [^/]+) go before the split.
    route = _NAMED_GROUP.sub("", route)
    segments = route.strip("^$").removesuffix("/?").removeprefix("v1/").split("/")
    return ".".join(segment for segment in segments if segment and "<" not in segment) or UNKNOWN_ENDPOINT


def _principal_of(request: HttpRequest) -> KeyPrincipal | None:
    # DRF sets request.user to the KeyPrincipal once authenticated. Read from __dict__ with an
    # exact type check: isinstance() on Django's lazy session user would evaluate it (a query).
    user = request.__dict__.get("user")
    if type(user) is KeyPrincipal:
        return user
    if "user" in request.__dict__ and user is None:
        return None  # authentication ran and refused the key
    # Refused before authentication (413, unknown URL): a valid key still owns its refusal. The
    # lookup is the cached one authentication makes, and this runs after the answer was sent.
    try:
        # resolve(), not authenticate(): a bad key here is not a second failure to count.
        authenticated = ApiKeyAuthentication().resolve(request)  # type: ignore[arg-type]
    except GatewayError:
        return None
    except Exception:  # Redis (or the database) away: the record is written without its key
        log.warning("key of %s not resolved for its usage record", request.request_id, exc_info=True)
        return None
    return authenticated[0] if authenticated else None


def _error_code(response: HttpResponseBase) -> str:
    if response.status_code < 400 or response.streaming:
        return ""
    try:
        error = json.loads(response.content)["error"]
        return str(error.get("code") or "")[:64]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _settle_leftover(entry: UsageEntry, request: HttpRequest, response: HttpResponseBase, latency_ms: int) -> None:
    if entry.settled:
        return
    if entry.principal is None:
        entry.principal = _principal_of(request)
    if not entry.endpoint:
        entry.endpoint = endpoint_of(request.path_info)
    entry.status = response.status_code
    entry.error_code = entry.error_code or _error_code(response)
    entry.latency_ms = entry.latency_ms or latency_ms
    if response.streaming and entry.status < 400:
        entry.client_disconnected = True  # closed before its generator ran
    settle(entry)


class UsageLedgerMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(_PREFIX):
            return self.get_response(request)
        started = time.monotonic()
        entry = UsageEntry(request_id=request.request_id, endpoint="", principal=None)
        request.usage_entry = entry
        endpoint, admits = _path_facts(request.path_info)
        if not admits:
            open_lease(request.request_id, endpoint)
        try:
            with stamps.checked_by_admission() if admits else stamps.request_scope() as vouched:
                entry.stamps = vouched
                response = self.get_response(request)
        except Exception as exc:
            # The stamps could not be read (Redis away, a process's first request): answered here,
            # not by handler500 above this middleware, so that the refusal is recorded like any other.
            # Exceptions of the view and of the middleware below it never get here (Django turns
            # them into responses at every middleware).
            down = unavailable(exc)
            if down is None:
                raise
            log.warning("%s refused before it began: %s", request.request_id, exc)
            response = error_response(down)
        latency_ms = int((time.monotonic() - started) * 1000)

        def closer() -> None:
            try:
                _settle_leftover(entry, request, response, latency_ms)
            except Exception:
                log.exception("usage record for %s not written", entry.request_id)

        # Django runs a response's resource closers in close(), after the server sent the body and
        # after a streaming body's own generator was closed (and had its chance to settle).
        response._resource_closers.append(closer)
        return response
