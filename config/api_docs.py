"""The OpenAPI document of /v1 (drf-spectacular) and its docs page; config/settings.py imports it.

Both are public: /openapi.json and /docs/ need no key (README "OpenAPI schema and docs"). Swagger UI's
files come from drf-spectacular-sidecar, served as static files, so /docs/ works offline.
"""

from __future__ import annotations

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Gateway",
    "DESCRIPTION": (
        "The OpenAI API in front of Cloudflare Workers AI and OpenAI-compatible upstreams. "
        "Every refusal is OpenAI's error envelope."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "tryItOutEnabled": False},
    "PREPROCESSING_HOOKS": ["gateway.http.openapi.only_v1"],
    "POSTPROCESSING_HOOKS": ["gateway.http.openapi.finish_document"],
    # The families describe their bodies as raw JSON Schema; nothing is split or enum-postprocessed.
    "COMPONENT_SPLIT_REQUEST": False,
    "ENUM_NAME_OVERRIDES": {},
}
