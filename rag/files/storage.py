"""Uploaded files at rest (POST /v1/files): the only module that touches the `files` storage.

The storage is Django's `storages["files"]` (config/settings.py STORAGES), on the same backend as
generated images (images/storage.py): a FileSystemStorage under MEDIA_ROOT/files by default, or
django-storages' S3Storage under the prefix GATEWAY_S3_FILES_PREFIX when GATEWAY_IMAGE_STORAGE=s3.
It is looked up on every call, never kept, so a changed STORAGES setting (a test's override) is
seen at once.

Every file gets a new unguessable name, `file_<32 hex>` (128 random bits), unrelated to the
client's filename (which lives only in the StoredFile row), and is never overwritten. Names are
checked against a strict pattern before the storage sees them, so no caller can reach a path
outside it.

Storage failures come out as two exceptions: `FileMissing` (no such bytes) and
`StorageUnavailable` (the storage could not answer: S3 unreachable or refusing the credentials, a
disk error), which the views answer 503.
"""

from __future__ import annotations

import logging
import re
import secrets

from botocore.exceptions import ClientError
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

log = logging.getLogger(__name__)

STORAGE_ALIAS = "files"
NAME_PATTERN = re.compile(r"file_[0-9a-f]{32}")


class FileMissing(LookupError):
    """No stored bytes under this name (never stored, deleted, or not a valid name at all)."""


class StorageUnavailable(RuntimeError):
    """The files storage could not answer (S3 unreachable or refusing us, a disk error)."""


def valid_name(name: str) -> bool:
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def _storage() -> Storage:
    return storages[STORAGE_ALIAS]


def _checked(name: str) -> str:
    if not valid_name(name):
        raise FileMissing(name)  # a name we could never have given out names no stored file
    return name


def _not_found(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, ClientError):  # S3Storage turns a 404 into FileNotFoundError on open and size only
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 404 or error.get("Code") in {"404", "NoSuchKey", "NotFound"}
    return False


def _unavailable(action: str, name: str, exc: Exception) -> StorageUnavailable:
    # Logged here with the cause; the client is told only that the storage did not answer.
    log.warning("file storage failed to %s %s: %s: %s", action, name, type(exc).__name__, exc)
    return StorageUnavailable(f"{action} {name}: {type(exc).__name__}")


def save_file(content: File | bytes) -> str:
    """Store the bytes (a Django File, e.g. an UploadedFile, read in chunks; or bytes) under a new
    name and return it. A temporary upload on the local disk is moved, not copied."""
    name = f"file_{secrets.token_hex(16)}"
    if isinstance(content, bytes):
        content = ContentFile(content, name=name)
    try:
        if hasattr(content, "seek"):
            content.seek(0)
        saved = _storage().save(name, content)
    except Exception as exc:  # any backend, any failure: the caller sees one exception type
        raise _unavailable("save", name, exc) from exc
    if saved != name:  # Storage.save renames on a collision: impossible with 128 random bits
        raise StorageUnavailable(f"the storage stored {name} as {saved}")
    return name


def open_file(name: str) -> File:
    """The stored bytes as an open binary file, to read (or iterate with `.chunks()`) and close;
    use it as a context manager. A local file is read from disk as it goes; S3Storage spools the
    object into a temporary file (in memory up to its max_memory_size) as it is read."""
    _checked(name)
    try:
        handle = _storage().open(name, "rb")
    except Exception as exc:
        if _not_found(exc):
            raise FileMissing(name) from exc
        raise _unavailable("open", name, exc) from exc
    return handle


def read_file(name: str) -> bytes:
    """The stored bytes, all of them in memory."""
    handle = open_file(name)
    try:
        with handle:
            return handle.read()
    except Exception as exc:
        if _not_found(exc):
            raise FileMissing(name) from exc
        raise _unavailable("read", name, exc) from exc


def file_size(name: str) -> int:
    """The stored file's size in bytes, without reading it (a stat, or an S3 HEAD request)."""
    _checked(name)
    try:
        return _storage().size(name)
    except Exception as exc:
        if _not_found(exc):
            raise FileMissing(name) from exc
        raise _unavailable("measure", name, exc) from exc


def delete_file(name: str) -> None:
    """Delete the bytes; nothing happens when they are already gone (or the name is not ours)."""
    if not valid_name(name):
        return
    try:
        _storage().delete(name)
    except Exception as exc:
        if _not_found(exc):
            return
        raise _unavailable("delete", name, exc) from exc
