"""The text-to-image models: their input schemas and their deterministic, real images (Pillow).

Sources, one public model page each:
- https://developers.cloudflare.com/workers-ai/models/flux-1-schnell/: {"prompt" (1–2048
  characters, required), "steps" (integer, max 8, default 4)} and nothing else (width and height
  are refused, 400 / 5006) → enveloped {"image": "<base64 JPEG>"}. Workers AI's FLUX.1 schnell
  answers a 1024×1024 JPEG.
- https://developers.cloudflare.com/workers-ai/models/stable-diffusion-xl-base-1.0/, with the same
  schema /stable-diffusion-xl-lightning/ and /dreamshaper-8-lcm/: {"prompt" (min 1, required),
  "negative_prompt", "width", "height" (integers 256–2048), "image" (uint8 array), "image_b64",
  "mask" (uint8 array), "num_steps" (integer, max 20, default 20), "strength" (0–1, default 1),
  "guidance" (number, default 7.5), "seed" (integer)} → "a binary PNG file": the PNG bytes
  themselves, Content-Type image/png, no envelope. The emulator's default size is 1024×1024.

The picture rule (tests rely on it): a picture is a vertical two-colour gradient with three to six
flat shapes (ellipses, rectangles, triangles) drawn over it; colours, shapes and their places all
come from a SHA-256 of the key, positions and sizes as fractions of the canvas.
- FLUX: the key is the prompt alone (`steps` changes nothing); always 1024×1024, JPEG at quality 90.
- SDXL family: key = (prompt, seed, width, height); the other inputs (negative_prompt, num_steps,
  guidance, strength, img2img's image/image_b64/mask) are checked and then ignored. A missing seed
  is a key of its own ("no seed"), not a random one as upstream, so answers stay reproducible.
Same key → the same bytes; another key → visibly different colours and shapes. Generation takes
15–30 ms at 1024×1024 (about 0.15 s at 2048×2048).
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import hashlib
import io
import json
import random
from typing import Any

from PIL import Image, ImageDraw

from .catalogue import CatalogueModel
from .model_reply import ModelReply
from .schema import BadInput, check_bytes, check_number, check_object, check_string, check_type

FLUX_SIZE = 1024  # Workers AI's FLUX.1 schnell answers 1024×1024 whatever the prompt
FLUX_JPEG_QUALITY = 90
SDXL_DEFAULT_SIZE = 1024
SDXL_MIN_SIZE, SDXL_MAX_SIZE = 256, 2048
SDXL_MAX_STEPS = 20
FLUX_MAX_STEPS = 8
FLUX_MAX_PROMPT = 2048
SDXL_KEYS = (
    "prompt",
    "negative_prompt",
    "height",
    "width",
    "image",
    "image_b64",
    "mask",
    "num_steps",
    "strength",
    "guidance",
    "seed",
)
PNG_CONTENT_TYPE = "image/png"


# --- input schemas --------------------------------------------------------------------------------


def validate_flux(body: Any) -> None:
    # additionalProperties false: width and height are refused (flux-1-schnell's model page).
    check_object(body, "", ("prompt", "steps"), ("prompt",))
    check_string(body, "prompt", "", min_length=1, max_length=FLUX_MAX_PROMPT)
    check_number(body, "steps", "", 1, FLUX_MAX_STEPS, integer=True)


def validate_sdxl(body: Any) -> None:
    """The schema shared by stable-diffusion-xl-base-1.0, -lightning and dreamshaper-8-lcm.

    The pages give num_steps only a maximum; the emulator also wants at least one step, as a
    diffusion of zero steps draws nothing. guidance and seed have no documented bounds.
    """
    check_object(body, "", SDXL_KEYS, ("prompt",))
    check_string(body, "prompt", "", min_length=1)
    check_string(body, "negative_prompt", "")
    check_number(body, "width", "", SDXL_MIN_SIZE, SDXL_MAX_SIZE, integer=True)
    check_number(body, "height", "", SDXL_MIN_SIZE, SDXL_MAX_SIZE, integer=True)
    check_number(body, "num_steps", "", 1, SDXL_MAX_STEPS, integer=True)
    check_number(body, "strength", "", 0, 1)
    if "guidance" in body:
        check_type(body["guidance"], "/guidance", "number")
    if "seed" in body:
        check_type(body["seed"], "/seed", "integer")
    for key in ("image", "mask"):
        if key in body:
            check_bytes(body[key], f"/{key}")
    check_string(body, "image_b64", "")
    if "image_b64" in body:
        try:
            base64.b64decode(body["image_b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadInput("'/image_b64' must be a base64-encoded image") from exc


# --- the pictures -------------------------------------------------------------------------------

_SHAPES = ("ellipse", "rectangle", "triangle")


def _colour(rng: random.Random, light: tuple[float, float]) -> tuple[int, int, int]:
    # HSV with a lively saturation, so two prompts' pictures differ at a glance, not only in bytes.
    red, green, blue = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.45, 0.9), rng.uniform(*light))
    return round(red * 255), round(green * 255), round(blue * 255)


def picture(key: str, width: int, height: int) -> Image.Image:
    """The RGB picture of `key` at width×height (see the module docstring)."""
    # random.Random seeded with bytes hashes them itself (SHA-512), the same in every process.
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
    top, bottom = _colour(rng, (0.55, 0.95)), _colour(rng, (0.25, 0.7))
    # Pillow's 256×256 linear gradient (black at the top), stretched, blends the two colours.
    ramp = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    canvas = Image.composite(Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), ramp)
    draw = ImageDraw.Draw(canvas)
    side = min(width, height)
    for _ in range(rng.randint(3, 6)):
        shape = rng.choice(_SHAPES)
        x, y = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        radius = rng.uniform(0.08, 0.25) * side
        fill = _colour(rng, (0.3, 1.0))
        outline = tuple(c // 2 for c in fill)
        line = max(2, side // 128)
        if shape == "ellipse":
            draw.ellipse((x - radius, y - radius * 0.8, x + radius, y + radius * 0.8), fill, outline, line)
        elif shape == "rectangle":
            draw.rectangle((x - radius, y - radius / 2, x + radius, y + radius / 2), fill, outline, line)
        else:
            points = [(x, y - radius), (x + radius, y + radius * 0.7), (x - radius, y + radius * 0.7)]
            draw.polygon(points, fill, outline, line)
    return canvas


def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def flux_jpeg(prompt: str) -> bytes:
    """FLUX.1 schnell's 1024×1024 JPEG of `prompt` (baseline, JFIF, no EXIF: byte-for-byte stable)."""
    return _encoded(picture(json.dumps(["flux", prompt]), FLUX_SIZE, FLUX_SIZE), "JPEG", quality=FLUX_JPEG_QUALITY)


def flux_result(body: dict[str, Any]) -> dict[str, Any]:
    """The enveloped `result` of an already-validated FLUX input."""
    return {"image": base64.b64encode(flux_jpeg(body["prompt"])).decode("ascii")}


def sdxl_size(body: dict[str, Any]) -> tuple[int, int]:
    return body.get("width", SDXL_DEFAULT_SIZE), body.get("height", SDXL_DEFAULT_SIZE)


def sdxl_png(body: dict[str, Any]) -> bytes:
    """The PNG answered for an already-validated SDXL-family input: width×height, deterministic
    per (prompt, seed, size). Pillow writes no time chunk, so equal keys give equal bytes."""
    width, height = sdxl_size(body)
    key = json.dumps(["sdxl", body["prompt"], body.get("seed"), width, height])
    # compress_level 1: flat pictures compress well at any level; a higher one only costs time.
    return _encoded(picture(key, width, height), "PNG", compress_level=1)


def image_reply(model: CatalogueModel, body: dict[str, Any]) -> ModelReply:
    """The answer to an already-validated input: FLUX's enveloped JSON, or SDXL's bare PNG."""
    if model.family == "flux":
        return ModelReply(result=flux_result(body))
    return ModelReply(image=sdxl_png(body), content_type=PNG_CONTENT_TYPE)
