"""POST images/generations on the generic base: real pictures drawn by image_models.py, at the
asked size and in the asked format (https://platform.openai.com/docs/api-reference/images/create).

- Any model name is accepted. A FLUX name from the catalogue draws FLUX's picture of the prompt
  (1024x1024 only, as FLUX answers; its JPEG bytes are /ai/run's); any other name draws the
  Stable Diffusion picture of (prompt, seed, width, height), image i of n with seed i (none for
  the first), so the first PNG is the one /ai/run's SDXL models answer without a seed.
- size "WxH" with each side 256–2048 (SDXL's range), or "auto" (1024x1024); n 1–10;
  output_format png (default), jpeg or webp; quality, style, background, moderation and
  output_compression are checked and ignored. dall-e-3 names also answer a revised_prompt (the
  prompt itself).
- response_format "url" (the default, as OpenAI's) stores the bytes in the emulator and answers a
  link to GET {openai_base_url}/images/files/{name}, served without auth; "b64_json" the base64.
"""

from __future__ import annotations

import base64
import io
import re
from typing import TYPE_CHECKING, Any

from PIL import Image

from .catalogue import find_model
from .image_models import FLUX_SIZE, SDXL_MAX_SIZE, SDXL_MIN_SIZE, flux_jpeg, sdxl_png
from .model_reply import ModelReply
from .openai_call import OpenAICall, check_fields, checked, now
from .openai_errors import OpenAIError, bad_input
from .schema import check_enum, check_number, check_string

if TYPE_CHECKING:
    from .server import WorkersAIEmulator

IMAGE_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "response_format",
        "quality",
        "style",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "user",
    }
)
DEFAULT_MODEL = "dall-e-2"
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
_SIZE = re.compile(r"^(\d+)x(\d+)$")
FILES_PATH = "images/files/"


def generations(call: OpenAICall) -> ModelReply:
    body = {"model": DEFAULT_MODEL, **call.body}
    check_fields(body, IMAGE_FIELDS, ("prompt",))
    with checked():
        check_string(body, "prompt", "", min_length=1, max_length=32000)
        check_number(body, "n", "", 1, 10, integer=True)
        check_string(body, "size", "")
        check_enum(body, "response_format", "", ("url", "b64_json"))
        check_enum(body, "output_format", "", tuple(FORMATS))
        check_enum(body, "quality", "", ("standard", "hd", "low", "medium", "high", "auto"))
        check_enum(body, "style", "", ("vivid", "natural"))
        check_enum(body, "background", "", ("transparent", "opaque", "auto"))
        check_enum(body, "moderation", "", ("low", "auto"))
        check_number(body, "output_compression", "", 0, 100, integer=True)
        check_string(body, "user", "")
    width, height = _size(body.get("size", "auto"))
    fmt = body.get("output_format", "png")
    model = find_model(body["model"])
    flux = model is not None and model.family == "flux"
    if flux and (width, height) != (FLUX_SIZE, FLUX_SIZE):
        raise bad_input(f"{body['model']} draws {FLUX_SIZE}x{FLUX_SIZE} only.", "size")
    data = []
    for i in range(body.get("n", 1)):
        if flux:
            image = _converted(flux_jpeg(body["prompt"]), "jpeg", fmt)
        else:
            sdxl = {"prompt": body["prompt"], "width": width, "height": height, **({"seed": i} if i else {})}
            image = _converted(sdxl_png(sdxl), "png", fmt)
        item: dict[str, Any] = (
            {"b64_json": base64.b64encode(image).decode("ascii")}
            if body.get("response_format", "url") == "b64_json"
            else {"url": _stored(call.emulator, image, fmt)}
        )
        if "dall-e-3" in body["model"]:
            item["revised_prompt"] = body["prompt"]
        data.append(item)
    return ModelReply(result={"created": now(), "data": data})


def _size(size: str) -> tuple[int, int]:
    if size == "auto":
        return 1024, 1024
    found = _SIZE.match(size)
    sides = (int(found.group(1)), int(found.group(2))) if found else None
    if sides is None or not all(SDXL_MIN_SIZE <= side <= SDXL_MAX_SIZE for side in sides):
        raise bad_input(f"'size' must be WIDTHxHEIGHT, each {SDXL_MIN_SIZE}–{SDXL_MAX_SIZE}, or auto; got {size!r}.")
    return sides


def _converted(image: bytes, current: str, wanted: str) -> bytes:
    if current == wanted:
        return image
    out = io.BytesIO()
    Image.open(io.BytesIO(image)).convert("RGB").save(out, FORMATS[wanted][0])
    return out.getvalue()


def _stored(emulator: WorkersAIEmulator, image: bytes, fmt: str) -> str:
    name = emulator._store_file(image, FORMATS[fmt][1], suffix="." + fmt)
    return f"{emulator.openai_base_url}/{FILES_PATH}{name}"


def stored_file(emulator: WorkersAIEmulator, name: str) -> ModelReply:
    found = emulator._stored_file(name)
    if found is None:
        raise OpenAIError(404, 7000, f"No such file: {name}", openai_code="not_found")
    data, content_type = found
    return ModelReply(image=data, content_type=content_type)
