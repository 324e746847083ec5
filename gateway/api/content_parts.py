"""Message content: a string, or an array of content parts, into text plus images.

Workers AI text models take string content only (workers-ai-api.md), so text parts are joined
with newlines; images become data: URLs for vision routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import invalid


@dataclass(frozen=True)
class Content:
    text: str
    images: tuple[str, ...] = ()


def parse_content(content: Any, param: str, *, allow_images: bool) -> Content:
    if content is None:
        return Content("")
    if isinstance(content, str):
        return Content(content)
    if not isinstance(content, list):
        raise invalid("Message content must be a string or an array of content parts.", param=param)
    texts = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid("Each content part must be an object with a 'type'.", param=part_param)
        if part["type"] != "text":
            raise invalid(
                f"Content parts of type '{part['type']}' are not supported on this endpoint yet.",
                param=f"{part_param}.type",
            )
        if not isinstance(part.get("text"), str):
            raise invalid("A text content part needs a string 'text'.", param=f"{part_param}.text")
        texts.append(part["text"])
    return Content("\n".join(texts))
