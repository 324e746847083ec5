"""Signed, expiring links to generated images: `/v1/images/get/<name>?expires=<unix>&signature=<hex>`.

A link opens its image without an API key until `expires` (OpenAI's image URLs last an hour:
GATEWAY_IMAGE_URL_TTL_SECONDS), so it works in an `<img>` tag. The signature is an HMAC-SHA256 of
the name and the expiry, keyed from SECRET_KEY under a salt of its own (Django's salted_hmac:
https://docs.djangoproject.com/en/5.2/ref/utils/#django.utils.crypto.salted_hmac), so no other
HMAC the gateway computes (API-key hashes, sessions) can stand in for it. Keys listed in
SECRET_KEY_FALLBACKS are also accepted, so rotating the secret key does not break the links already
handed out (https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key-fallbacks).

`check` never raises: a missing, malformed, tampered or expired link is simply False.
"""

from __future__ import annotations

import hmac
import math
import re
import time
from urllib.parse import urlencode

from django.conf import settings
from django.utils.crypto import salted_hmac

SALT = "images.signing.file-link.v1"

# Unix seconds, written as signed_query writes them (no sign, no leading zero): one spelling per
# expiry. Twelve digits reach the year 33658.
_EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")  # SHA-256 as lowercase hex


def _signature(name: str, expires: int, secret: str | bytes | None = None) -> str:
    # The newline cannot occur in a digit string, so (name, expires) pairs never collide.
    return salted_hmac(SALT, f"{name}\n{expires}", secret=secret, algorithm="sha256").hexdigest()


def signed_query(name: str, expires: int) -> str:
    """`expires=<unix>&signature=<hex>` for a link to `name` that opens until `expires` (unix seconds)."""
    return urlencode({"expires": expires, "signature": _signature(name, expires)})


def signed_path(name: str, ttl: int) -> str:
    """The path of a link to `name` that opens for `ttl` seconds from now."""
    expires = math.ceil(time.time()) + ttl
    return f"/v1/images/get/{name}?{signed_query(name, expires)}"


def check(name: str, expires: str | None, signature: str | None, now: float | None = None) -> bool:
    """True when `signature` is ours for `name` and `expires`, and `expires` is still ahead of `now`."""
    if expires is None or signature is None:
        return False
    if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
        return False
    moment = time.time() if now is None else now
    if int(expires) <= moment:
        return False
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    # compare_digest on ASCII str is constant-time; both sides are hex here. Every secret is tried,
    # so the time taken does not say which one (if any) matched.
    matches = [hmac.compare_digest(_signature(name, int(expires), secret), signature) for secret in keys]
    return any(matches)
