"""Test settings: the real services of config.settings, isolated per test run.

Each pytest process gets its own test database name and cache key prefix, so several runs (and
xdist workers, which pytest-django suffixes further) share the embedded Postgres and Redis safely.
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403
from config.settings import CACHES, DATABASES, MIDDLEWARE
from config.settings import CELERY_BROKER_TRANSPORT_OPTIONS as _CELERY_TRANSPORT
from config.settings import STORAGES as _SETTINGS_STORAGES

_RUN = f"{os.getpid()}"

DATABASES["default"]["TEST"] = {"NAME": f"test_gateway_{_RUN}"}
CACHES["default"]["KEY_PREFIX"] = f"test{_RUN}"
CELERY_TASK_DEFAULT_QUEUE = f"celery-test{_RUN}"
# As config.settings derives it from the prefix, which the tests' worker gets as CACHE_KEY_PREFIX.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **_CELERY_TRANSPORT,
    "global_keyprefix": f"{CACHES['default']['KEY_PREFIX']}:celery:",
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # As config.settings has it: the tests' Celery worker runs on config.settings and stores there.
    "images": _SETTINGS_STORAGES["images"],
    "files": _SETTINGS_STORAGES["files"],
}
GATEWAY_SSE_KEEPALIVE_SECONDS = 0.5

# Outermost, so it sees what the client sees (tests/conftest.py fails a test that got a 500 or HTML).
MIDDLEWARE = ["gateway.testing.response_audit.ResponseAuditMiddleware", *MIDDLEWARE]
# Every test client is 127.0.0.1: the suite's many deliberate 401s and sign-ins would trip the
# per-address limits of one another. Their own tests turn them on (tests/gateway/access/test_auth_failures.py).
GATEWAY_AUTH_FAILURES_PER_MINUTE = 0
GATEWAY_ADMIN_LOGINS_PER_MINUTE = 0
