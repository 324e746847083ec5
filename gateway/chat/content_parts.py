"""Message content: a string, or an array of content parts, into text plus images.

Workers AI text models take string content only (the input schemas of their model pages,
https://developers.cloudflare.com/workers-ai/models/), so text parts are joined with newlines.
Images (`image_url` parts with an http(s) or data: URL,
https://platform.openai.com/docs/guides/images-vision) must reach the vision model as data: URLs,
the only form it takes (https://developers.cloudflare.com/workers-ai/models/llama-3.2-11b-vision-instruct/).

Parsing only checks them: a data: URL whole (cheap and local), an http(s) URL's syntax. The
fetch costs the gateway a connection and the request its time, so it waits until the request
is routed, allowed and admitted: inline_images, called by gateway/chat/service.py once per
request (`n` and fallbacks reuse what it fetched). Whether the chosen route can see images is
decided there too.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from gateway.chat.image_fetch import checked_url, fetch_image, too_large
from gateway.errors import invalid
from gateway.providers.base import ChatMessage, ImageRef

_DETAILS = {"auto", "low", "high"}
# data:[<media type>][;<parameter>]*;base64,<payload> (RFC 2397); only base64 images are taken.
_DATA_URL = re.compile(r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.DOTALL | re.IGNORECASE)
_IMAGE_TYPE = re.compile(r"^image/[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True)
class Content:
    text: str
    images: tuple[ImageRef, ...] = ()


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


def _image(part: dict[str, Any], part_param: str) -> ImageRef:
    """An image_url part, checked but not fetched; `image_url` may also be the bare URL string."""
    image = part.get("image_url")
    if isinstance(image, str):
        url, url_param = image, f"{part_param}.image_url"
    elif isinstance(image, dict) and isinstance(image.get("url"), str):
        url, url_param = image["url"], f"{part_param}.image_url.url"
        detail = image.get("detail")
        if detail is not None and (not isinstance(detail, str) or detail not in _DETAILS):
            raise invalid("'detail' must be auto, low or high.", param=f"{part_param}.image_url.detail")
    else:
        raise invalid(
            "An image_url content part needs 'image_url' with a string 'url'.", param=f"{part_param}.image_url"
        )
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme == "data":
        return ImageRef(_data_url(url, url_param), url_param)
    if scheme in {"http", "https"}:
        checked_url(url, url_param)
        return ImageRef(url, url_param)
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


def inline_images(messages: tuple[ChatMessage, ...]) -> tuple[ChatMessage, ...]:
    """The messages with every http(s) image fetched and inlined as a data: URL.

    Each distinct URL is fetched once, in order; the first failure is the request's 400, naming
    its part. Images already inline are kept, so calling this again fetches nothing.
    """
    fetched: dict[str, str] = {}

    def inline(image: ImageRef) -> ImageRef:
        if image.inline:
            return image
        if image.url not in fetched:
            fetched[image.url] = fetch_image(image.url, param=image.param)
        return replace(image, url=fetched[image.url])

    return tuple(
        replace(message, images=tuple(inline(image) for image in message.images)) if message.images else message
        for message in messages
    )
