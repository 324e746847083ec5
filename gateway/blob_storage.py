"""Named bytes in one of Django's storages (STORAGES[alias]): what images/storage.py and
rag/files/storage.py share.

The storage is looked up on every call, never kept, so a changed STORAGES setting (a test's
override) is seen at once: Django empties `storages` on that signal (django/test/signals.py
storages_changed; https://docs.djangoproject.com/en/5.2/ref/files/storage/). Names are checked
against the caller's strict pattern before the storage sees them, so no caller can reach a path
outside it (`../`, `/`, NUL, `%2F`); a name that fails it names nothing stored.

Every backend's failures come out as two exceptions: `BlobMissing` (no such bytes; the caller's
subclass) and `StorageUnavailable` (the storage could not answer: S3 unreachable or refusing the
credentials, a disk error). Storages report a missing file as FileNotFoundError (FileSystemStorage,
and S3Storage for a 404 on open or size:
https://django-storages.readthedocs.io/en/1.14.6/backends/amazon-S3.html), S3 elsewhere as a
ClientError.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from botocore.exceptions import ClientError
from django.core.files.base import File
from django.core.files.storage import Storage, storages

log = logging.getLogger(__name__)


class BlobMissing(LookupError):
    """No stored bytes under this name (never stored, deleted, or not a valid name at all)."""


class StorageUnavailable(RuntimeError):
    """The storage could not answer (S3 unreachable or refusing us, a disk error)."""


def _not_found(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, ClientError):  # S3Storage turns a 404 into FileNotFoundError on open and size only
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 404 or error.get("Code") in {"404", "NoSuchKey", "NotFound"}
    return False


@dataclass(frozen=True)
class BlobStore:
    alias: str  # the STORAGES entry
    pattern: re.Pattern[str]  # the names this store gives out
    what: str  # "image", "file": for the logs
    missing: type[BlobMissing] = BlobMissing

    def storage(self) -> Storage:
        return storages[self.alias]

    def valid(self, name: str) -> bool:
        return isinstance(name, str) and self.pattern.fullmatch(name) is not None

    def _checked(self, name: str) -> str:
        if not self.valid(name):
            raise self.missing(name)  # a name we could never have given out names nothing stored
        return name

    def _unavailable(self, action: str, name: str, exc: Exception) -> StorageUnavailable:
        # Logged here with the cause; the client is told only that the storage did not answer.
        log.warning("%s storage failed to %s %s: %s: %s", self.what, action, name, type(exc).__name__, exc)
        return StorageUnavailable(f"{action} {name}: {type(exc).__name__}")

    def _failure(self, action: str, name: str, exc: Exception) -> Exception:
        return self.missing(name) if _not_found(exc) else self._unavailable(action, name, exc)

    def save(self, name: str, content: File) -> None:
        """Store `content` under `name`, a fresh name of this store's pattern (never overwritten)."""
        self._checked(name)
        try:
            if hasattr(content, "seek"):
                content.seek(0)
            saved = self.storage().save(name, content)
        except Exception as exc:  # any backend, any failure: the caller sees one exception type
            raise self._unavailable("save", name, exc) from exc
        if saved != name:  # Storage.save renames on a collision: impossible with 128 random bits
            raise StorageUnavailable(f"the storage stored {name} as {saved}")

    def open(self, name: str) -> File:
        """The bytes as an open binary file, to read (or iterate with `.chunks()`) and close. A local
        file is read from disk as it goes; S3Storage spools the object into a temporary file (in
        memory up to its max_memory_size) as it is read."""
        self._checked(name)
        try:
            return self.storage().open(name, "rb")
        except Exception as exc:
            raise self._failure("open", name, exc) from exc

    def read(self, name: str) -> bytes:
        """All of the bytes, in memory."""
        handle = self.open(name)
        try:
            with handle:
                return handle.read()
        except Exception as exc:
            raise self._failure("read", name, exc) from exc

    def size(self, name: str) -> int:
        """The size in bytes, without reading them (a stat, or an S3 HEAD request)."""
        self._checked(name)
        try:
            return self.storage().size(name)
        except Exception as exc:
            raise self._failure("measure", name, exc) from exc

    def delete(self, name: str) -> None:
        """Delete the bytes; nothing happens when they are already gone (or the name is not ours)."""
        if not self.valid(name):
            return
        try:
            self.storage().delete(name)
        except Exception as exc:
            if not _not_found(exc):
                raise self._unavailable("delete", name, exc) from exc
