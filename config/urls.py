"""URL routes. Every non-admin route answers JSON, errors included (gateway/http/envelope.py handlers)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularSwaggerView

from audio.views import SpeechView, TranscriptionsView, TranslationsView
from gateway.chat.views import ChatCompletionsView
from gateway.completions.views import CompletionsView
from gateway.embeddings.views import EmbeddingsView
from gateway.http.openapi import SchemaView
from gateway.http.views import ModelDetailView, ModelListView, UsageView, healthz, metrics_view, readyz
from gateway.moderations.views import ModerationsView
from gateway.ops.login_throttle import throttled_login
from gateway.ops.playground import playground, playground_key
from gateway.ops.views import usage_csv, usage_dashboard
from gateway.responses.views import ResponseDetailView, ResponseInputItemsView, ResponsesView
from images.views import ImageFileView, ImageGenerationsView, ImageJobView
from rag.files.views import FileContentView, FileDetailView, FilesView
from rag.vector_stores.views import (
    FileBatchCancelView,
    FileBatchDetailView,
    FileBatchesView,
    FileBatchFilesView,
    VectorStoreDetailView,
    VectorStoreFileDetailView,
    VectorStoreFilesView,
    VectorStoreSearchView,
    VectorStoresView,
)
from rag.views import DocumentDetailView, DocumentsView, RagChatView, SearchView

urlpatterns = [
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics_view),
    # The OpenAPI document of /v1 and Swagger UI over it: public, no key (README "OpenAPI schema and docs").
    path("openapi.json", SchemaView.as_view(), name="openapi-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="docs"),
    re_path(r"^v1/chat/completions/?$", ChatCompletionsView.as_view()),
    re_path(r"^v1/completions/?$", CompletionsView.as_view()),
    re_path(r"^v1/embeddings/?$", EmbeddingsView.as_view()),
    re_path(r"^v1/audio/transcriptions/?$", TranscriptionsView.as_view()),
    re_path(r"^v1/audio/translations/?$", TranslationsView.as_view()),
    re_path(r"^v1/audio/speech/?$", SpeechView.as_view()),
    re_path(r"^v1/models/?$", ModelListView.as_view()),
    path("v1/models/<path:model_id>", ModelDetailView.as_view()),
    re_path(r"^v1/moderations/?$", ModerationsView.as_view()),
    re_path(r"^v1/responses/?$", ResponsesView.as_view()),
    re_path(r"^v1/responses/(?P<response_id>[^/]+)/input_items/?$", ResponseInputItemsView.as_view()),
    re_path(r"^v1/responses/(?P<response_id>[^/]+)/?$", ResponseDetailView.as_view()),
    re_path(r"^v1/usage/?$", UsageView.as_view()),
    re_path(r"^v1/rag/documents/?$", DocumentsView.as_view()),
    path("v1/rag/documents/<path:document_id>", DocumentDetailView.as_view()),
    re_path(r"^v1/rag/search/?$", SearchView.as_view()),
    re_path(r"^v1/rag/chat/?$", RagChatView.as_view()),
    # Ids as OpenAI spells them (file-…); a class without "/" keeps the ledger's endpoint names
    # plain (files, files.content: gateway/http/ledger_middleware.py endpoint_of).
    re_path(r"^v1/files/?$", FilesView.as_view()),
    re_path(r"^v1/files/(?P<file_id>[\w.-]+)/content/?$", FileContentView.as_view()),
    re_path(r"^v1/files/(?P<file_id>[\w.-]+)/?$", FileDetailView.as_view()),
    re_path(r"^v1/vector_stores/?$", VectorStoresView.as_view()),
    re_path(r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/?$", VectorStoreDetailView.as_view()),
    re_path(r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/search/?$", VectorStoreSearchView.as_view()),
    re_path(r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/files/?$", VectorStoreFilesView.as_view()),
    re_path(
        r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/files/(?P<file_id>[\w.-]+)/?$",
        VectorStoreFileDetailView.as_view(),
    ),
    re_path(r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/file_batches/?$", FileBatchesView.as_view()),
    re_path(
        r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/file_batches/(?P<batch_id>[\w.-]+)/?$",
        FileBatchDetailView.as_view(),
    ),
    re_path(
        r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/file_batches/(?P<batch_id>[\w.-]+)/cancel/?$",
        FileBatchCancelView.as_view(),
    ),
    re_path(
        r"^v1/vector_stores/(?P<vector_store_id>[\w.-]+)/file_batches/(?P<batch_id>[\w.-]+)/files/?$",
        FileBatchFilesView.as_view(),
    ),
    # <path:>, not <str:>: a name with a slash (or %2F) still reaches the view and its one 404.
    re_path(r"^v1/images/generations/?$", ImageGenerationsView.as_view()),
    path("v1/images/jobs/<str:job_id>", ImageJobView.as_view()),
    path("v1/images/get/<path:name>", ImageFileView.as_view()),
    # Before the admin's own patterns; admin_view gives them its login redirect and staff check.
    path("admin/usage-dashboard/", admin.site.admin_view(usage_dashboard), name="usage-dashboard"),
    path("admin/usage-dashboard/csv/", admin.site.admin_view(usage_csv), name="usage-dashboard-csv"),
    # The staff playground: a page calling /v1 from the browser, and its short-lived key.
    path("playground/", playground, name="playground"),
    path("playground/key", playground_key, name="playground-key"),
    path("admin/login/", throttled_login),  # the admin's own login view, behind a per-address limit
    path("admin/", admin.site.urls),
]

handler400 = "gateway.http.envelope.bad_request"
handler403 = "gateway.http.envelope.permission_denied"
handler404 = "gateway.http.envelope.not_found"
handler500 = "gateway.http.envelope.server_error"
