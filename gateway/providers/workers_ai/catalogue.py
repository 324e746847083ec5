"""One /ai/models/search item as a CatalogueModel, its upstream task named in the gateway's words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gateway.providers.base import CatalogueModel

# Upstream task names in the gateway's vocabulary. Image-to-Text models (llava…) answer about an
# image in text, which is what a chat client asks a vision model, so they are "chat" with vision.
_TASKS = {
    "Text Generation": "chat",
    "Image-to-Text": "chat",
    "Text Embeddings": "embedding",
    "Automatic Speech Recognition": "transcription",
    "Text-to-Speech": "speech",
    "Text-to-Image": "image",
}


def catalogue_model(item: dict[str, Any]) -> CatalogueModel:
    """One /ai/models/search item; property values are strings (reference, Catalogue)."""
    task_name = str((item.get("task") or {}).get("name") or "")
    properties = {
        str(p.get("property_id")): p.get("value") for p in item.get("properties") or [] if isinstance(p, dict)
    }
    name = str(item["name"])
    return CatalogueModel(
        name=name,
        task=_TASKS.get(task_name) or re.sub(r"[^a-z0-9]+", "-", task_name.lower()).strip("-"),
        description=str(item.get("description") or ""),
        context_window=_int_property(properties.get("context_window")),
        function_calling=properties.get("function_calling") == "true",
        reasoning=properties.get("reasoning") == "true",
        vision=task_name == "Image-to-Text" or "vision" in name,
        created=_unix_seconds(item.get("created_at")),
    )


def _int_property(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (ValueError, OverflowError):
        return None


def _unix_seconds(value: Any) -> int | None:
    # created_at looks like "2025-01-01 00:00:00.000", in UTC without saying so.
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())
