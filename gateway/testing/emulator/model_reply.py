"""What /ai/run answers, as the handler writes it: an enveloped `result`, SSE events, or the bytes
themselves (Aura's audio, chunked; a Stable Diffusion PNG, whole). Kept apart from replies.py so
that every module producing model output (replies, image_models…) can build one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamEvent:
    data: dict[str, Any] | str  # a JSON object, or the literal "[DONE]"
    pause_before: float = 0.0


@dataclass(frozen=True)
class ModelReply:
    result: Any = None  # the enveloped `result` of a non-streamed answer
    events: tuple[StreamEvent, ...] | None = None  # set → text/event-stream, no envelope
    delay: float = 0.0  # pause before a non-streamed answer
    audio: bytes | None = None  # set → these bytes themselves, chunked, no envelope (Aura)
    image: bytes | None = None  # set → these bytes themselves, whole (Content-Length), no envelope (SDXL)
    content_type: str = ""  # of `audio` or `image`
