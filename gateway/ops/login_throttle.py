"""The admin's login, throttled per client address with django-ratelimit: past
GATEWAY_ADMIN_LOGINS_PER_MINUTE sign-in attempts (POSTs) from one address in its minute window,
the form answers 429 until the window ends. The address is the one failed API authentications
are counted by (gateway/access/failures.py client_ip)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_ratelimit.core import get_usage


def throttled_login(request: HttpRequest) -> HttpResponse:
    limit = settings.GATEWAY_ADMIN_LOGINS_PER_MINUTE
    if request.method == "POST" and limit:
        usage = get_usage(request, group="gateway.admin-login", key="ip", rate=f"{limit}/m", increment=True)
        if usage is not None and usage["should_limit"]:
            wait = max(1, int(usage["time_left"]))
            context = {**admin.site.each_context(request), "title": "Too many sign-in attempts", "wait": wait}
            response = TemplateResponse(request, "admin/login_throttled.html", context, status=429)
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request)
