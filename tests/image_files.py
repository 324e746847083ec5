"""Real images and the rows that own them, for the tests of stored images and their links.

The images are encoded here with Pillow, not by the code under test, so a bug in
images/storage.py cannot hide in the fixtures. Until the generation endpoint exists, a test stores
an image itself and writes the ImageRequest and ImageJob a generation would have left behind.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

from PIL import Image

from gateway.models import ApiKey
from images.models import ImageJob, ImageRequest

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def encoded(
    extension: str = "png", size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = (200, 40, 90)
) -> bytes:
    """An image of `size` in `extension` (png, jpeg or webp), a gradient so no two encoders agree."""
    picture = Image.new("RGB", size, color)
    for x in range(size[0]):
        picture.putpixel((x, 0), (x * 15 % 256, 0, 255 - x * 15 % 256))
    out = io.BytesIO()
    picture.save(out, format=FORMATS[extension])
    return out.getvalue()


def local_storage(location: Path) -> dict[str, Any]:
    """A STORAGES entry: files under `location`, as config/settings.py sets "images" by default."""
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}}


def owned_image(file_name: str, key: str | None, *, output_format: str = "png", size: int = 0) -> ImageJob:
    """The rows a finished generation leaves for a stored image: one request, one succeeded job.

    `key`: the plaintext API key that asked for it (the job's owner is the key's owner), or None for
    the static ACCESS_TOKEN (no key row, no owner)."""
    row = ApiKey.objects.get(key_hash=ApiKey.hash_key(key)) if key is not None else None
    owner = row.owner if row is not None else None
    request = ImageRequest.objects.create(
        request_id=f"req_{secrets.token_hex(16)}", api_key=row, owner=owner, public_model="dall-e-2", n=1, pending=0
    )
    return ImageJob.objects.create(
        request=request,
        index=0,
        owner=owner,
        api_key=row,
        prompt="a red square",
        public_model="dall-e-2",
        upstream_model="@cf/black-forest-labs/flux-1-schnell",
        provider="workers-ai",
        width=16,
        height=12,
        output_format=output_format,
        status=ImageJob.Status.SUCCEEDED,
        file_name=file_name,
        file_bytes=size,
    )
