from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from django.conf import settings

        from gateway import signals  # noqa: F401  (cache invalidation on admin edits)
        from gateway.ops import admin, response_admin  # noqa: F401  (the admin lives with the other operator pages)
        from gateway.providers import http

        http.configure(settings.GATEWAY_UPSTREAM_POOL_SIZE)  # a stream holds a connection for its length
