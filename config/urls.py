"""URL routes. Every non-admin route answers JSON, errors included (gateway/errors.py handlers)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path

from gateway.api.chat import ChatCompletionsView
from gateway.api.completions import CompletionsView
from gateway.api.health import healthz, readyz
from gateway.api.models import ModelDetailView, ModelListView
from gateway.api.moderations import ModerationsView

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    re_path(r"^v1/chat/completions/?$", ChatCompletionsView.as_view()),
    re_path(r"^v1/completions/?$", CompletionsView.as_view()),
    re_path(r"^v1/models/?$", ModelListView.as_view()),
    path("v1/models/<path:model_id>", ModelDetailView.as_view()),
    re_path(r"^v1/moderations/?$", ModerationsView.as_view()),
    path("admin/", admin.site.urls),
]

handler400 = "gateway.errors.bad_request"
handler403 = "gateway.errors.permission_denied"
handler404 = "gateway.errors.not_found"
handler500 = "gateway.errors.server_error"
