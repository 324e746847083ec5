"""Message content: a string, or an array of content parts, into text plus images.

Workers AI text models take string content only (workers-ai-api.md), so text parts are joined
with newlines. Images (openai-contract.md: `image_url` parts, http(s) or data: URLs) become data:
URLs, because the vision model accepts nothing else (workers-ai-api.md, Vision): data: URLs are
checked here, http(s) ones fetched once per request by gateway/chat/image_fetch.py. Whether the chosen
route can see them is decided once routes are known (gateway/chat/service.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from gateway.chat.image_fetch import fetch_image, too_large
from gateway.errors import invalid

_DETAILS = {"auto", "low", "high"}
# data:[<media type>][;<parameter>]*;base64,<payload> (RFC 2397); only base64 images are taken.
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.DOTALL | re.IGNORECASE)
_IMAGE_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9.+-]*$")


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
    images = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid("Each content part must be an object with a 'type'.", param=part_param)
        kind = part["type"]
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise invalid("A text content part needs a string 'text'.", param=f"{part_param}.text")
            texts.append(part["text"])
        elif kind == "image_url":
            if not allow_images:
                raise invalid("Image content parts are allowed in user messages only.", param=f"{part_param}.type")
            images.append(_image(part, part_param))
        else:
            raise invalid(
                f"Content parts of type '{kind}' are not supported on /v1/chat/completions: "
                f"send 'text' and 'image_url' parts.",
                param=f"{part_param}.type",
            )
    return Content("\n".join(texts), tuple(images))


def _image(part: dict[str, Any], part_param: str) -> str:
    """An image_url part as a data: URL; `image_url` may also be the bare URL string."""
    image = part.get("image_url")
    if isinstance(image, str):
        url, url_param = image, f"{part_param}.image_url"
    elif isinstance(image, dict) and isinstance(image.get("url"), str):
        url, url_param = image["url"], f"{part_param}.image_url.url"
        detail = image.get("detail")
        if detail is not None and detail not in _DETAILS:
            raise invalid("'detail' must be auto, low or high.", param=f"{part_param}.image_url.detail")
    else:
        raise invalid(
            "An image_url content part needs 'image_url' with a string 'url'.", param=f"{part_param}.image_url"
        )
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme == "data":
        return _data_url(url, url_param)
    if scheme in {"http", "https"}:
        return fetch_image(url, param=url_param)
    raise invalid("An image URL must be an http, https or data: URL.", param=url_param, code="invalid_image_url")


def _data_url(url: str, param: str) -> str:
    """A checked data: URL, rewritten as data:<type>;base64,<payload> (the form the upstream takes)."""
    match = _DATA_URL.match(url.strip())
    if match is None:
        raise invalid("The data: URL is malformed.", param=param, code="invalid_image_url")
    media_type = match["type"].strip().lower()
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    if not _IMAGE_TYPE.match(media_type):
        raise invalid(
            f"A data: URL image must have an image/* media type, not '{media_type or 'none'}'.",
            param=param,
            code="invalid_image_url",
        )
    if "base64" not in params:
        raise invalid("A data: URL image must be base64-encoded (';base64,').", param=param, code="invalid_image_url")
    payload = match["payload"]
    # The decoded size is at most 3/4 of the text: refuse a too-large image before decoding it.
    if len(payload) * 3 // 4 > settings.GATEWAY_IMAGE_FETCH_MAX_BYTES + 2:
        raise too_large(param)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("The data: URL's payload is not valid base64.", param=param, code="invalid_image_url") from None
    if not data:
        raise invalid("The data: URL image is empty.", param=param, code="invalid_image_url")
    if len(data) > settings.GATEWAY_IMAGE_FETCH_MAX_BYTES:
        raise too_large(param)
    return f"data:{media_type};base64,{payload}"
