"""The Files API's inputs, checked: the multipart upload of POST /v1/files and the list's query.

OpenAI's purposes are all accepted and stored as given, since the SDKs send them; only files with
purpose `assistants` or `user_data` are meant for vector stores (README "Files"). Nothing refuses a
file for its type here: text is extracted when a vector store ingests it, and fails there.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from gateway.errors import GatewayError, invalid
from rag.list_pages import ListQuery, parse_list_query

PURPOSES = ("assistants", "user_data", "batch", "fine-tune", "vision", "evals")
MAX_FILENAME_CHARS = 255
MAX_LIST_LIMIT = 10_000  # OpenAI's default and maximum for GET /v1/files
DEFAULT_MEDIA_TYPE = "application/octet-stream"
# type/subtype as RFC 9110 tokens; parameters (`; charset=…`) are dropped.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True)
class UploadRequest:
    upload: UploadedFile
    purpose: str
    filename: str
    media_type: str  # "" when neither the client nor the name says


@dataclass(frozen=True)
class FileListRequest:
    query: ListQuery
    purpose: str | None


def _purpose(value: Any) -> str:
    if value is None or value == "":
        raise invalid("You must provide a 'purpose' for the file.", param="purpose")
    if value not in PURPOSES:
        raise invalid(f"'purpose' must be one of {', '.join(PURPOSES)}; got '{value}'.", param="purpose")
    return str(value)


def clean_filename(name: str | None) -> str:
    """The upload's name without path parts or control characters, at most 255 characters (the
    extension kept when the stem is cut); "upload" when nothing is left."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return "upload"
    if len(base) <= MAX_FILENAME_CHARS:
        return base
    stem, dot, extension = base.rpartition(".")
    if dot and stem and 0 < len(extension) <= 16:
        return stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
    return base[:MAX_FILENAME_CHARS]


def media_type_of(content_type: str | None, filename: str) -> str:
    """The client's media type when it names one (not the generic octet-stream), else a guess from
    the name's extension, else ""."""
    given = (content_type or "").split(";", 1)[0].strip().lower()
    if _MEDIA_TYPE.fullmatch(given) and given != DEFAULT_MEDIA_TYPE:
        return given
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or ""


def parse_upload(data: Any) -> UploadRequest:
    """`file` and `purpose` of the multipart form. The size limit is GATEWAY_FILE_MAX_BYTES (413)."""
    purpose = _purpose(data.get("purpose") if hasattr(data, "get") else None)
    upload = data.get("file")
    if not isinstance(upload, UploadedFile):
        raise invalid("You must provide a 'file' as a multipart file field.", param="file")
    if upload.size is None or upload.size == 0:
        raise invalid("The 'file' is empty.", param="file", code="empty_file")
    limit = settings.GATEWAY_FILE_MAX_BYTES
    if upload.size > limit:
        raise GatewayError(
            413,
            f"The 'file' is {upload.size} bytes; files may have at most {limit} bytes.",
            param="file",
            code="file_too_large",
        )
    filename = clean_filename(upload.name)
    return UploadRequest(
        upload=upload,
        purpose=purpose,
        filename=filename,
        media_type=media_type_of(upload.content_type, filename),
    )


def parse_list(params: Any) -> FileListRequest:
    purpose = params.get("purpose") or None
    if purpose is not None and purpose not in PURPOSES:
        raise invalid(f"'purpose' must be one of {', '.join(PURPOSES)}; got '{purpose}'.", param="purpose")
    query = parse_list_query(params, default_limit=MAX_LIST_LIMIT, max_limit=MAX_LIST_LIMIT)
    return FileListRequest(query=query, purpose=purpose)
