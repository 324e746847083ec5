"""Test-only middleware: remembers every 5xx and every HTML answer outside the admin.

config/settings_test.py installs it and tests/conftest.py fails any test during which one was
served, so "no request in the suite gets a 500 or an HTML body" is checked, not hoped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

_lock = threading.Lock()
_offences: list[str] = []


def take_offences() -> list[str]:
    with _lock:
        taken = list(_offences)
        _offences.clear()
    return taken


class ResponseAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if response.status_code >= 500 and response.status_code not in {502, 503, 504}:
            self._note(f"{response.status_code} for {request.method} {request.path}")
        elif html and not request.path.startswith("/admin/"):
            self._note(f"an HTML body for {request.method} {request.path}")
        return response

    @staticmethod
    def _note(offence: str) -> None:
        with _lock:
            _offences.append(offence)
