"""The Files API's answers, in OpenAI's shapes (https://platform.openai.com/docs/api-reference/files)."""

from __future__ import annotations

from typing import Any

from rag.files.service import FilePage
from rag.list_pages import list_body
from rag.vector_store_models import StoredFile


def file_body(file: StoredFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": int(file.created_at.timestamp()),
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


def list_of(files: FilePage) -> dict[str, Any]:
    return list_body(files.files, files.has_more, file_body)


def deleted_body(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}
