"""Content negotiation that always answers JSON (or the view's own SSE stream).

OpenAI ignores `Accept`; DRF would answer 406 to `Accept: text/event-stream`, which
EventSource-style clients send with streaming requests.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class AlwaysJSON(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer: Any = renderers[0]
        return renderer, renderer.media_type
