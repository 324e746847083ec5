"""Upstream settings: Cloudflare's account, and what the gateway does when an upstream fails
(retries, backoff, cooldowns). config/settings.py imports them."""

from __future__ import annotations

from config.env import env_bool, env_float, env_int, env_str

CLOUDFLARE_ACCOUNT_ID = env_str("CLOUDFLARE_ACCOUNT_ID")
CLOUDFLARE_API_TOKEN = env_str("CLOUDFLARE_API_TOKEN")
CLOUDFLARE_API_BASE_URL = env_str("CLOUDFLARE_API_BASE_URL", "https://api.cloudflare.com/client/v4").rstrip("/")
# Set by `make demo` (manage.py serve --emulator): every page and response says so.
GATEWAY_UPSTREAM_EMULATED = env_bool("GATEWAY_UPSTREAM_EMULATED", False)

# Upstream failures (gateway/catalog/fallbacks.py): a route's failure moves the request to its name's
# next route; once every route was tried, up to RETRIES more attempts (timeouts, refused connections,
# 429, 5xx) follow, each after a jittered exponential backoff (BACKOFF, doubling; at least the
# upstream's Retry-After). No retry ends its wait past BUDGET seconds after the first attempt began.
GATEWAY_UPSTREAM_RETRIES = env_int("GATEWAY_UPSTREAM_RETRIES", 1, minimum=0)
GATEWAY_UPSTREAM_BACKOFF_SECONDS = env_float("GATEWAY_UPSTREAM_BACKOFF_SECONDS", 0.5)
GATEWAY_UPSTREAM_BUDGET_SECONDS = env_float("GATEWAY_UPSTREAM_BUDGET_SECONDS", 20.0)
# A retry that would have to wait longer than this (a long Retry-After) is not made: the failure is
# answered at once, with its Retry-After, rather than hold a server thread asleep.
GATEWAY_UPSTREAM_MAX_WAIT_SECONDS = env_float("GATEWAY_UPSTREAM_MAX_WAIT_SECONDS", 5.0)
# A route failing this many times within the window is cooled down: skipped, in every worker, for
# COOLDOWN_SECONDS while another route of its name is not (gateway/catalog/cooldown.py). 0 turns it off.
GATEWAY_COOLDOWN_FAILURES = env_int("GATEWAY_COOLDOWN_FAILURES", 3, minimum=0)
GATEWAY_COOLDOWN_WINDOW_SECONDS = env_int("GATEWAY_COOLDOWN_WINDOW_SECONDS", 60, minimum=1)
GATEWAY_COOLDOWN_SECONDS = env_int("GATEWAY_COOLDOWN_SECONDS", 30, minimum=1)
