"""The upstream's picture as the file the client asked for: its size and its format, with Pillow.

An upstream that cannot make the asked size (FLUX.1 schnell always paints 1024×1024) is scaled to
cover the size with Lanczos resampling and centre-cropped to it: no stretching, no borders; the
crop loses the edges of the longer side (a 1792×1024 from a square loses its top and bottom).
`output_compression` is OpenAI's 0–100 for jpeg and webp, 100 the best quality
(https://platform.openai.com/docs/api-reference/images/create); png is lossless and ignores it.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("png", "jpeg", "webp")
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpeg", "webp": "webp"}
DEFAULT_QUALITY = 95  # jpeg/webp with no output_compression given: near-lossless
MAX_UPSTREAM_PIXELS = 4096 * 4096  # a bigger "image" from upstream is refused, not decoded


class ImageError(Exception):
    """The upstream's bytes are not an image Pillow reads."""


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def render(data: bytes, *, width: int, height: int, output_format: str, compression: int | None) -> bytes:
    """`data` (any image Pillow reads) as exactly width×height in `output_format`."""
    try:
        with Image.open(io.BytesIO(data)) as source:
            if source.width * source.height > MAX_UPSTREAM_PIXELS:
                raise ImageError(f"the upstream image is {source.width}×{source.height}, too large to convert")
            source.load()
            picture = source.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError("the upstream answer is not an image") from exc
    if picture.size != (width, height):
        picture = ImageOps.fit(picture, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return encode(picture, output_format=output_format, compression=compression)


def encode(picture: Image.Image, *, output_format: str, compression: int | None) -> bytes:
    out = io.BytesIO()
    quality = DEFAULT_QUALITY if compression is None else max(1, compression)
    if output_format == "png":
        picture = picture if picture.mode in ("RGB", "RGBA", "L", "LA", "P") else picture.convert("RGBA")
        picture.save(out, format="PNG", optimize=False, compress_level=6)
    elif output_format == "jpeg":
        picture.convert("RGB").save(out, format="JPEG", quality=quality, optimize=True)
    elif output_format == "webp":
        picture.save(out, format="WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"output_format must be one of {', '.join(FORMATS)}, not {output_format!r}")
    return out.getvalue()
