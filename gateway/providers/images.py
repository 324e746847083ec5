"""Typed request and result of image generation at the provider boundary (see base.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ImageGenerationRequest:
    model: str  # upstream model id, e.g. "@cf/black-forest-labs/flux-1-schnell"
    prompt: str  # already within the model's prompt limit (prompt_limit)
    width: int  # what the client asked for: sent upstream when the model takes a size
    height: int


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes  # the upstream's image file as it came (JPEG, PNG…): the family converts it


class ImageProvider(Protocol):
    def prompt_limit(self, model: str) -> int | None:
        """The longest prompt the model takes, in characters; None when it documents none."""
        ...

    def generate_image(self, request: ImageGenerationRequest) -> GeneratedImage: ...
