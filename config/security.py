"""Security settings, read from the environment (README's configuration table): CORS, TLS behind a
proxy, the throttles of failed authentications and admin sign-ins, and the input limits. Imported
by config/settings.py, whose names these are.
"""

from __future__ import annotations

from config.env import env_bool, env_int, env_list, env_str

# Failed authentications allowed per client address and minute before they answer 429 (0: no
# limit), and the header a proxy in front sets to the client's address (gateway/access/failures.py).
GATEWAY_AUTH_FAILURES_PER_MINUTE = env_int("GATEWAY_AUTH_FAILURES_PER_MINUTE", 30, minimum=0)
GATEWAY_CLIENT_IP_HEADER = env_str("GATEWAY_CLIENT_IP_HEADER")
RATELIMIT_IP_META_KEY = "gateway.access.failures.client_ip"
# Sign-in attempts to the admin per client address and minute (0: no limit; gateway/ops/login_throttle.py).
GATEWAY_ADMIN_LOGINS_PER_MINUTE = env_int("GATEWAY_ADMIN_LOGINS_PER_MINUTE", 10, minimum=0)

# Input limits (gateway/http/input_limits.py, README "Input limits"): a JSON body's nesting depth,
# any array's and any string's length in it (OpenAI's own bounds for messages, input arrays and
# strings), tools per request (OpenAI's 128) and each one's schema, all request headers together,
# and a multipart body's fields and files (Django's settings behind the last two).
GATEWAY_MAX_JSON_DEPTH = env_int("GATEWAY_MAX_JSON_DEPTH", 64, minimum=4)
GATEWAY_MAX_ARRAY_ITEMS = env_int("GATEWAY_MAX_ARRAY_ITEMS", 2048, minimum=1)
GATEWAY_MAX_STRING_CHARS = env_int("GATEWAY_MAX_STRING_CHARS", 10_485_760, minimum=1)
GATEWAY_MAX_TOOLS = env_int("GATEWAY_MAX_TOOLS", 128, minimum=1)
GATEWAY_MAX_TOOL_SCHEMA_BYTES = env_int("GATEWAY_MAX_TOOL_SCHEMA_BYTES", 65_536, minimum=64)
GATEWAY_MAX_HEADER_BYTES = env_int("GATEWAY_MAX_HEADER_BYTES", 16_384, minimum=1024)
GATEWAY_MAX_MULTIPART_FIELDS = env_int("GATEWAY_MAX_MULTIPART_FIELDS", 100, minimum=1)
GATEWAY_MAX_MULTIPART_FILES = env_int("GATEWAY_MAX_MULTIPART_FILES", 10, minimum=1)
DATA_UPLOAD_MAX_NUMBER_FIELDS = GATEWAY_MAX_MULTIPART_FIELDS
DATA_UPLOAD_MAX_NUMBER_FILES = GATEWAY_MAX_MULTIPART_FILES

# CORS for /v1/ (django-cors-headers), off unless origins are listed: browsers may then call the API
# from those origins (a key in the page is the page's to protect). "*" allows any origin. Keys are
# bearer tokens, never cookies, so no credentials mode.
GATEWAY_CORS_ALLOWED_ORIGINS = env_list("GATEWAY_CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_ALL_ORIGINS = GATEWAY_CORS_ALLOWED_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else GATEWAY_CORS_ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/v1/" if GATEWAY_CORS_ALLOWED_ORIGINS else r"(?!)"  # off: never matches, adds nothing
CORS_ALLOW_HEADERS = (
    *("accept", "authorization", "content-type", "user-agent", "cache-control", "idempotency-key"),
    *("openai-organization", "openai-project", "openai-beta"),
    # What the official SDKs send from a browser (dangerouslyAllowBrowser): their x-stainless-* headers.
    *(f"x-stainless-{name}" for name in ("arch", "lang", "os", "package-version", "retry-count", "runtime")),
    *(f"x-stainless-{name}" for name in ("runtime-version", "timeout", "helper-method", "poll-helper", "async")),
)
CORS_EXPOSE_HEADERS = (
    "x-request-id",
    "x-cache",
    "retry-after",
    *(f"x-ratelimit-{what}-{unit}" for what in ("limit", "remaining", "reset") for unit in ("requests", "tokens")),
)
CORS_PREFLIGHT_MAX_AGE = 600

# TLS ends at a proxy; DJANGO_SECURE=1 turns on redirects, HSTS and secure cookies behind it.
DJANGO_SECURE = env_bool("DJANGO_SECURE", False)
SECURE_SSL_REDIRECT = DJANGO_SECURE
SESSION_COOKIE_SECURE = DJANGO_SECURE
CSRF_COOKIE_SECURE = DJANGO_SECURE
SECURE_HSTS_SECONDS = 31_536_000 if DJANGO_SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = DJANGO_SECURE
SECURE_HSTS_PRELOAD = DJANGO_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if DJANGO_SECURE else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probed and scraped on the private side
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
X_FRAME_OPTIONS = "DENY"
