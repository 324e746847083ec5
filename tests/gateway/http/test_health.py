"""GET /healthz (the process answers) and GET /readyz (its database, Redis and Celery broker answer)."""

from __future__ import annotations

import pytest
import requests
from conftest import error_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_without_a_key(gateway_url) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{gateway_url}/healthz")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json()["status"] == "ok"


def test_readyz_reports_database_and_redis(gateway_url) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{gateway_url}/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "redis": "ok", "broker": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }

    response = requests.get(f"{gateway_url}/readyz")

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "redis" in error["message"] and "database" not in error["message"]


def test_readyz_is_503_when_the_celery_broker_is_unreachable(gateway_url, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = requests.get(f"{gateway_url}/readyz")

    error = error_of(response, 503)
    assert error["code"] == "not_ready"
    assert "broker" in error["message"] and "redis" not in error["message"]
