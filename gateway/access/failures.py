"""Failed authentications, throttled per client address with django-ratelimit.

Past GATEWAY_AUTH_FAILURES_PER_MINUTE failures from one address in its minute window, the answer
to each further failure is 429 instead of 401, until the window ends: a brake on key guessing and
on a client stuck with a wrong key. Only failures are counted, and only when one happens, so a valid
key is always served: clients sharing an address (a NAT, a proxy) cannot lock each other out.

The address is REMOTE_ADDR, or the header GATEWAY_CLIENT_IP_HEADER names when a proxy in front
sets it (its right-most address: the one that proxy saw). IPv6 addresses count per /64, as
django-ratelimit groups them.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

GROUP = "gateway.auth-failures"
CODE = "too_many_auth_failures"


def client_ip(request: Any) -> str:
    """The client's address (RATELIMIT_IP_META_KEY points here, config/settings.py)."""
    header = settings.GATEWAY_CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        candidate = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass  # absent or not an address: the connection's own
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")


def after_failure(request: Any, refusal: GatewayError) -> GatewayError:
    """Count one failed authentication from the request's address; the answer to give: `refusal`,
    or 429 once the address is past the limit. Redis away: the refusal, uncounted."""
    limit = settings.GATEWAY_AUTH_FAILURES_PER_MINUTE
    if not limit:
        return refusal
    try:
        usage = get_usage(request, group=GROUP, key="ip", rate=f"{limit}/m", increment=True)
    except Exception:
        log.warning("failed authentication not counted (the cache is unreachable)", exc_info=True)
        return refusal
    if usage is None or not usage["should_limit"]:
        return refusal
    wait = max(1, int(usage["time_left"]))
    return GatewayError(
        429,
        f"Too many failed authentications from your address: {limit} a minute are allowed. "
        f"Try again in {wait} s with a valid API key.",
        type="invalid_request_error",
        code=CODE,
        headers={"Retry-After": str(wait)},
    )
