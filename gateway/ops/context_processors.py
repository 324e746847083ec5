from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def upstream_label(request: HttpRequest) -> dict[str, bool]:
    """Lets every admin page say when the upstream is the bundled emulator."""
    return {"upstream_emulated": settings.GATEWAY_UPSTREAM_EMULATED}
