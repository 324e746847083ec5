"""Security settings: `check --deploy` is clean under DJANGO_SECURE=1, and answers carry the
security headers (Django's SecurityMiddleware and clickjacking protection, config/settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def test_check_deploy_is_clean_with_django_secure() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECURE": "1",
        "DJANGO_SECRET_KEY": "a-deploy-check-secret-" + "k3y-0f-3n0ugh-l3ngth-and-v4ri3ty-" * 2,
        "DJANGO_ALLOWED_HOSTS": "gateway.example.com",
        "GATEWAY_CORS_ALLOWED_ORIGINS": "https://app.example.com",  # CORS on: its checks run too
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize("path", ["/v1/models", "/admin/login/", "/healthz"])
def test_answers_carry_the_security_headers(gateway_url, api_key, path) -> None:  # type: ignore[no-untyped-def]
    answer = requests.get(f"{gateway_url}{path}", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["Cross-Origin-Opener-Policy"] == "same-origin"
