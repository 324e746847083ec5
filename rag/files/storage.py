"""Uploaded files at rest (POST /v1/files): the only module that touches the `files` storage.

The storage is Django's `storages["files"]` (config/settings.py STORAGES), on the same backend as
generated images: a FileSystemStorage under MEDIA_ROOT/files by default, or django-storages'
S3Storage under the prefix GATEWAY_S3_FILES_PREFIX when GATEWAY_IMAGE_STORAGE=s3; read and
written through gateway/blob_storage.py, which maps every backend's failures to `FileMissing` (no
such bytes) and `StorageUnavailable` (the storage could not answer), which the views answer 503.

Every file gets a new unguessable name, `file_<32 hex>` (128 random bits), unrelated to the
client's filename (which lives only in the StoredFile row), and is never overwritten. Names are
checked against a strict pattern before the storage sees them, so no caller can reach a path
outside it.
"""

from __future__ import annotations

import re
import secrets

from django.core.files.base import ContentFile, File

from gateway.blob_storage import BlobMissing, BlobStore, StorageUnavailable

__all__ = ["FileMissing", "StorageUnavailable", "delete_file", "file_size", "open_file", "read_file", "save_file"]

STORAGE_ALIAS = "files"
NAME_PATTERN = re.compile(r"file_[0-9a-f]{32}")


class FileMissing(BlobMissing):
    """No stored bytes under this name (never stored, deleted, or not a valid name at all)."""


_STORE = BlobStore(STORAGE_ALIAS, NAME_PATTERN, "file", FileMissing)


def valid_name(name: str) -> bool:
    return _STORE.valid(name)


def save_file(content: File | bytes) -> str:
    """Store the bytes (a Django File, e.g. an UploadedFile, read in chunks; or bytes) under a new
    name and return it. A temporary upload on the local disk is moved, not copied."""
    name = f"file_{secrets.token_hex(16)}"
    _STORE.save(name, ContentFile(content, name=name) if isinstance(content, bytes) else content)
    return name


def open_file(name: str) -> File:
    """The stored bytes as an open binary file, to read (or iterate with `.chunks()`) and close;
    use it as a context manager."""
    return _STORE.open(name)


def read_file(name: str) -> bytes:
    """The stored bytes, all of them in memory."""
    return _STORE.read(name)


def file_size(name: str) -> int:
    """The stored file's size in bytes, without reading it (a stat, or an S3 HEAD request)."""
    return _STORE.size(name)


def delete_file(name: str) -> None:
    """Delete the bytes; nothing happens when they are already gone (or the name is not ours)."""
    _STORE.delete(name)
