"""Workers AI text-to-image models: what each takes and how its answer comes back.

- FLUX.1 schnell (https://developers.cloudflare.com/workers-ai/models/flux-1-schnell/):
  `{"prompt" (≤ 2048 characters), "steps"}`, no size (width/height are refused) → `{"image":
  "<base64 JPEG>"}` in the envelope, 1024×1024.
- Stable Diffusion XL and its kin (https://developers.cloudflare.com/workers-ai/models/stable-diffusion-xl-base-1.0/):
  `{"prompt", "width", "height" (256–2048)}` → the PNG itself, no envelope.
The two are told apart by the answer's Content-Type, not by the model's name.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.images import ImageGenerationRequest
from gateway.providers.workers_ai.results import base64_field

FLUX_PREFIX = "@cf/black-forest-labs/flux-1"
FLUX_PROMPT_LIMIT = 2048
SIZE_MIN, SIZE_MAX = 256, 2048


def takes_size(model: str) -> bool:
    return not model.startswith(FLUX_PREFIX)


def prompt_limit(model: str) -> int | None:
    return FLUX_PROMPT_LIMIT if model.startswith(FLUX_PREFIX) else None


def image_payload(request: ImageGenerationRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": request.prompt}
    if takes_size(request.model):
        # Within the model's bounds; the family fits the image to the exact size asked for.
        body["width"] = min(max(request.width, SIZE_MIN), SIZE_MAX)
        body["height"] = min(max(request.height, SIZE_MIN), SIZE_MAX)
    return body


def enveloped_image(result: Any) -> bytes:
    """FLUX: `{"image": "<base64 JPEG>"}` inside the envelope."""
    return base64_field(result, "image", "image")
