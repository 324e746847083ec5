from __future__ import annotations

from django.apps import AppConfig


class RagConfig(AppConfig):
    name = "rag"
    verbose_name = "Retrieval-augmented generation"

    def ready(self) -> None:
        # /v1/responses runs the file_search tool over vector stores (gateway/responses/hosted_tools.py).
        from gateway.responses.hosted_tools import register
        from rag.vector_stores.file_search import FileSearchTool

        register("file_search", FileSearchTool())
