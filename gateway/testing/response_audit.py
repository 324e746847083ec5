"""Test-only middleware: remembers every 5xx and every HTML answer outside the staff pages (the admin,
the playground), and knows which requests are still in flight.

config/settings_test.py installs it and tests/conftest.py fails any test during which one was
served, so "no request in the suite gets a 500 or an HTML body" is checked, not hoped. The usage
record of a request is written after the client has its answer, so a test can end while the live
server still writes; conftest waits for `wait_until_idle()` before the test database is emptied,
or the two would deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

_lock = threading.Lock()
_offences: list[str] = []
_idle = threading.Condition()
_in_flight = 0


def wait_until_idle(timeout: float = 15.0) -> bool:
    """True once no request is being served or closed (its usage written), False on timeout."""
    with _idle:
        return _idle.wait_for(lambda: _in_flight == 0, timeout=timeout)


def _enter() -> None:
    global _in_flight
    with _idle:
        _in_flight += 1


def _leave() -> None:
    global _in_flight
    with _idle:
        _in_flight -= 1
        _idle.notify_all()


def take_offences() -> list[str]:
    with _lock:
        taken = list(_offences)
        _offences.clear()
    return taken


class ResponseAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        _enter()
        try:
            response = self.get_response(request)
        except BaseException:
            _leave()
            raise
        # The last closer of the outermost middleware: it runs after the usage record is written
        # (SettledResponse.close, a stream's generator, the ledger middleware's closer).
        response._resource_closers.append(_leave)
        html = response.get("Content-Type", "").startswith("text/html")
        if response.status_code >= 500 and response.status_code not in {502, 503, 504}:
            self._note(f"{response.status_code} for {request.method} {request.path}")
        elif html and not request.path.startswith(("/admin/", "/playground/", "/docs/")):  # staff pages, API docs
            self._note(f"an HTML body for {request.method} {request.path}")
        return response

    @staticmethod
    def _note(offence: str) -> None:
        with _lock:
            _offences.append(offence)
