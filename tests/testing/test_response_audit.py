"""The suite's guard against 500s and HTML pages can actually fail."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from gateway.testing.response_audit import ResponseAuditMiddleware, take_offences, wait_until_idle


def answer(path: str, response: HttpResponse) -> list[str]:
    ResponseAuditMiddleware(lambda request: response)(RequestFactory().get(path)).close()
    return take_offences()


def test_a_request_is_in_flight_until_its_response_is_closed() -> None:
    response = ResponseAuditMiddleware(lambda request: JsonResponse({}))(RequestFactory().get("/v1/models"))

    assert wait_until_idle(timeout=0.05) is False
    response.close()
    assert wait_until_idle(timeout=0.05) is True


def test_it_flags_a_500_and_an_html_page() -> None:
    assert answer("/v1/models", HttpResponse("boom", status=500)) == ["500 for GET /v1/models"]
    assert answer("/v1/nope", HttpResponse("<html></html>", status=404)) == ["an HTML body for GET /v1/nope"]


def test_it_lets_json_errors_and_admin_pages_pass() -> None:
    assert answer("/v1/models", JsonResponse({"error": {}}, status=404)) == []
    assert answer("/admin/", HttpResponse("<html></html>")) == []
    assert answer("/v1/chat/completions", JsonResponse({"error": {}}, status=502)) == []
