"""Generated images at rest: the only module that touches the `images` storage.

The storage is Django's `storages["images"]` (config/settings.py STORAGES): a FileSystemStorage under
MEDIA_ROOT/images by default, or django-storages' S3Storage (AWS S3, Cloudflare R2, any S3-compatible
service) when GATEWAY_IMAGE_STORAGE=s3. It is looked up on every call, never kept, so a changed
STORAGES setting (a test's override) is seen at once: Django empties `storages` on that signal
(django/test/signals.py storages_changed; https://docs.djangoproject.com/en/5.2/ref/files/storage/).

Every image gets a new unguessable name, `img_<32 hex>.<png|jpeg|webp>` (128 random bits), and is
never overwritten, so a name with its size is a strong HTTP validator (images/views.py). The
extension is the one OpenAI's `output_format` uses and always names what the bytes really are:
`save_image` refuses bytes whose magic says otherwise. Names are checked against a strict pattern
before the storage sees them, so no caller can reach a path outside it (`../`, `/`, NUL, `%2F`).

Storage failures come out as two exceptions: `ImageMissing` (no such file) and `StorageUnavailable`
(the storage could not answer: S3 unreachable or refusing the credentials, a disk error). Storages
report a missing file as FileNotFoundError (FileSystemStorage, and S3Storage for a 404 on open or
size: https://django-storages.readthedocs.io/en/1.14.6/backends/amazon-S3.html).
"""

from __future__ import annotations

import logging
import re
import secrets

from botocore.exceptions import ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

log = logging.getLogger(__name__)

STORAGE_ALIAS = "images"

# Extension → media type. One spelling per type: the extension is OpenAI's `output_format`.
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

NAME_PATTERN = re.compile(r"img_[0-9a-f]{32}\.(?:png|jpeg|webp)")


class ImageMissing(LookupError):
    """No stored image under this name (never stored, deleted, or not a valid name at all)."""


class StorageUnavailable(RuntimeError):
    """The images storage could not answer (S3 unreachable or refusing us, a disk error)."""


def valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def media_type(name: str) -> str:
    """The media type a valid name's extension stands for."""
    if not valid_name(name):
        raise ValueError(f"not an image name: {name!r}")
    return MEDIA_TYPES[name.rpartition(".")[2]]


def sniff(data: bytes) -> str | None:
    """The media type the bytes' magic number says (PNG, JPEG or WebP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _storage() -> Storage:
    return storages[STORAGE_ALIAS]


def _checked(name: str) -> str:
    if not valid_name(name):
        raise ImageMissing(name)  # a name we could never have given out names no stored image
    return name


def _not_found(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    # S3Storage turns a 404 into FileNotFoundError on open and size, not everywhere.
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == 404 or error.get("Code") in {"404", "NoSuchKey", "NotFound"}
    return False


def _unavailable(action: str, name: str, exc: Exception) -> StorageUnavailable:
    # Logged here with the cause; the client is told only that the storage did not answer.
    log.warning("image storage failed to %s %s: %s: %s", action, name, type(exc).__name__, exc)
    return StorageUnavailable(f"{action} {name}: {type(exc).__name__}")


def save_image(data: bytes, *, extension: str) -> str:
    """Store the bytes under a new name and return it. `extension`: png, jpeg or webp, and it must be
    what the bytes are (ValueError otherwise: a name that lies about its bytes is never stored)."""
    if extension not in MEDIA_TYPES:
        raise ValueError(f"extension must be one of {sorted(MEDIA_TYPES)}, not {extension!r}")
    found = sniff(data)
    if found != MEDIA_TYPES[extension]:
        raise ValueError(f"the bytes are {found or 'not a PNG, JPEG or WebP image'}, not {MEDIA_TYPES[extension]}")
    name = f"img_{secrets.token_hex(16)}.{extension}"
    try:
        saved = _storage().save(name, ContentFile(data, name=name))
    except Exception as exc:  # any backend, any failure: the caller sees one exception type
        raise _unavailable("save", name, exc) from exc
    if saved != name:  # Storage.save renames on a collision: impossible with 128 random bits
        raise StorageUnavailable(f"the storage stored {name} as {saved}")
    return name


def read_image(name: str) -> bytes:
    """The stored bytes. ImageMissing when there are none (or the name is not one we give out)."""
    _checked(name)
    try:
        with _storage().open(name, "rb") as handle:
            return handle.read()
    except Exception as exc:
        if _not_found(exc):
            raise ImageMissing(name) from exc
        raise _unavailable("read", name, exc) from exc


def image_size(name: str) -> int:
    """The stored image's size in bytes, without reading it (a stat, or an S3 HEAD request)."""
    _checked(name)
    try:
        return _storage().size(name)
    except Exception as exc:
        if _not_found(exc):
            raise ImageMissing(name) from exc
        raise _unavailable("measure", name, exc) from exc


def delete_image(name: str) -> None:
    """Delete the image; nothing happens when it is already gone (both backends treat that as done)."""
    if not valid_name(name):
        return
    try:
        _storage().delete(name)
    except Exception as exc:
        if _not_found(exc):
            return
        raise _unavailable("delete", name, exc) from exc
