"""Generated images at rest: the only module that touches the `images` storage.

The storage is Django's `storages["images"]` (config/settings.py STORAGES): a FileSystemStorage under
MEDIA_ROOT/images by default, or django-storages' S3Storage (AWS S3, Cloudflare R2, any S3-compatible
service) when GATEWAY_IMAGE_STORAGE=s3; read and written through gateway/blob_storage.py, which
looks it up on every call and maps every backend's failures to `ImageMissing` (no such image) and
`StorageUnavailable` (the storage could not answer).

Every image gets a new unguessable name, `img_<32 hex>.<png|jpeg|webp>` (128 random bits), and is
never overwritten, so a name with its size is a strong HTTP validator (images/views.py). The
extension is the one OpenAI's `output_format` uses and always names what the bytes really are:
`save_image` refuses bytes whose magic says otherwise. Names are checked against a strict pattern
before the storage sees them, so no caller can reach a path outside it (`../`, `/`, NUL, `%2F`).
"""

from __future__ import annotations

import re
import secrets

from django.core.files.base import ContentFile

from gateway.blob_storage import BlobMissing, BlobStore, StorageUnavailable

__all__ = ["ImageMissing", "StorageUnavailable", "delete_image", "image_size", "read_image", "save_image"]

STORAGE_ALIAS = "images"

# Extension → media type. One spelling per type: the extension is OpenAI's `output_format`.
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

NAME_PATTERN = re.compile(r"img_[0-9a-f]{32}\.(?:png|jpeg|webp)")


class ImageMissing(BlobMissing):
    """No stored image under this name (never stored, deleted, or not a valid name at all)."""


_STORE = BlobStore(STORAGE_ALIAS, NAME_PATTERN, "image", ImageMissing)


def valid_name(name: str) -> bool:
    return _STORE.valid(name)


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


def save_image(data: bytes, *, extension: str) -> str:
    """Store the bytes under a new name and return it. `extension`: png, jpeg or webp, and it must be
    what the bytes are (ValueError otherwise: a name that lies about its bytes is never stored)."""
    if extension not in MEDIA_TYPES:
        raise ValueError(f"extension must be one of {sorted(MEDIA_TYPES)}, not {extension!r}")
    found = sniff(data)
    if found != MEDIA_TYPES[extension]:
        raise ValueError(f"the bytes are {found or 'not a PNG, JPEG or WebP image'}, not {MEDIA_TYPES[extension]}")
    name = f"img_{secrets.token_hex(16)}.{extension}"
    _STORE.save(name, ContentFile(data, name=name))
    return name


def read_image(name: str) -> bytes:
    """The stored bytes. ImageMissing when there are none (or the name is not one we give out)."""
    return _STORE.read(name)


def image_size(name: str) -> int:
    """The stored image's size in bytes, without reading it (a stat, or an S3 HEAD request)."""
    return _STORE.size(name)


def delete_image(name: str) -> None:
    """Delete the image; nothing happens when it is already gone (both backends treat that as done)."""
    _STORE.delete(name)
