"""The images operations in the OpenAPI document: POST /v1/images/generations, GET /v1/images/jobs/{job_id}
and GET /v1/images/get/{name}.

The body as images/request.py reads it (https://platform.openai.com/docs/api-reference/images/create),
the answers as images/render.py makes them: OpenAI's image response, and the gateway's own job object
for its asynchronous extension (`Prefer: respond-async`, README "Images"). The image files open with
a signed link and no key (images/signing.py), so their operation's key is optional (`KeyWhenSentScheme`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from gateway.http.openapi import (
    INTEGER,
    MODEL,
    STRING,
    TIMESTAMP,
    Schema,
    answers,
    component,
    example,
    json_body,
    nullable,
    refusals,
)
from images.imaging import FORMATS
from images.request import MAX_N, RESPONSE_FORMATS, rules_for
from images.storage import MEDIA_TYPES

# Every size some model takes (a model name other than OpenAI's takes any of them).
_SIZES = list(rules_for("any other model").sizes)
_QUALITIES = list(dict.fromkeys(rules_for("dall-e-2").qualities + rules_for("dall-e-3").qualities))


def _choice(values: list[str], description: str) -> Schema:
    return nullable({"enum": values, "description": description})


GENERATION_REQUEST = component(
    "CreateImageRequest",
    {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": 32000,
                "pattern": r"\S",
                "description": "At most 1000 characters for dall-e-2, 4000 for dall-e-3, 32000 otherwise.",
            },
            "model": nullable({**MODEL, "description": "dall-e-2 by default."}),
            "n": nullable(
                {"type": "integer", "minimum": 1, "maximum": MAX_N, "description": "1 by default; dall-e-3 makes 1."}
            ),
            "size": _choice(
                _SIZES,
                "1024x1024 by default. dall-e-2: 256x256, 512x512, 1024x1024; dall-e-3: 1024x1024, 1792x1024, "
                "1024x1792; gpt-image-1: 1024x1024, 1536x1024, 1024x1536, auto; another model: any of these.",
            ),
            "response_format": _choice(list(RESPONSE_FORMATS), "url (a signed, expiring link) by default."),
            "output_format": _choice(list(FORMATS), "png by default."),
            "output_compression": nullable(
                {"type": "integer", "minimum": 0, "maximum": 100, "description": "For jpeg and webp."}
            ),
            "quality": _choice(_QUALITIES, "Checked against the model's qualities, otherwise without effect."),
            "style": _choice(["vivid", "natural"], "Accepted without effect."),
            "background": _choice(["transparent", "opaque", "auto"], "Accepted without effect."),
            "moderation": _choice(["low", "auto"], "Accepted without effect."),
            "user": {"description": "Accepted and ignored."},
        },
    },
)

_IMAGE = {
    "type": "object",
    "description": "`url` or `b64_json`, as `response_format` asked.",
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "description": "A signed link that opens without a key until it expires.",
        },
        "b64_json": {"type": "string", "contentEncoding": "base64"},
        "revised_prompt": STRING,
    },
}
IMAGES_RESPONSE = component(
    "ImagesResponse",
    {
        "type": "object",
        "required": ["created", "data"],
        "properties": {
            "created": TIMESTAMP,
            "data": {"type": "array", "items": _IMAGE},
            "size": STRING,
            "output_format": {"enum": list(FORMATS)},
        },
    },
)
IMAGE_JOB = component(
    "ImageJob",
    {
        "type": "object",
        "description": "One image of a generation request, made by a worker (the gateway's extension).",
        "required": ["id", "object", "status", "model", "created_at", "started_at", "finished_at", "result", "error"],
        "properties": {
            "id": STRING,
            "object": {"const": "image.job"},
            "status": {"enum": ["queued", "running", "succeeded", "failed"]},
            "model": STRING,
            "size": STRING,
            "output_format": {"enum": list(FORMATS)},
            "index": {"type": "integer", "minimum": 0, "description": "Its place in the request's `data`."},
            "request_id": STRING,
            "attempts": {"type": "integer", "minimum": 0},
            "created_at": TIMESTAMP,
            "started_at": nullable(TIMESTAMP),
            "finished_at": nullable(TIMESTAMP),
            "result": nullable({**_IMAGE, "description": "The image once the job succeeded."}),
            "error": nullable(
                {
                    "type": "object",
                    "required": ["message", "code", "status"],
                    "properties": {"message": STRING, "code": nullable(STRING), "status": nullable(INTEGER)},
                }
            ),
        },
    },
)
_ACCEPTED = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": IMAGE_JOB, "minItems": 1}},
}

CREATE = extend_schema(
    operation_id="createImage",
    summary="Create images from a prompt",
    request=json_body(GENERATION_REQUEST),
    parameters=[
        OpenApiParameter(
            "Prefer",
            location=OpenApiParameter.HEADER,
            description="`respond-async` (RFC 7240): answer 202 with the queued jobs at once, not the images.",
        )
    ],
    responses={
        **answers(IMAGES_RESPONSE, "The images (or the first failed job's error, as its status says).", 403, 404),
        (202, "application/json"): OpenApiResponse(
            _ACCEPTED,
            description="With `Prefer: respond-async`: the jobs, queued; `Location` names the first "
            "(GET /v1/images/jobs/{job_id}).",
        ),
    },
    examples=[example("A picture", {"model": "dall-e-2", "prompt": "A lighthouse at dusk", "size": "256x256"})],
)

_JOB_ID = OpenApiParameter("job_id", location=OpenApiParameter.PATH, description="An image job's id (imgjob_…).")
RETRIEVE_JOB = extend_schema(
    operation_id="retrieveImageJob",
    summary="Retrieve an image job",
    parameters=[_JOB_ID],
    responses=answers(IMAGE_JOB, "The job, with its image once it succeeded.", 404),
)

_IMAGE_FILE_DESCRIPTION = (
    "The image's bytes, its media type by its `output_format` (application/octet-stream only for a stored "
    "file whose bytes are none of these). Cache-Control: `private, max-age=<seconds the link has left>` "
    "with a link, `private, no-cache` with a key; a strong ETag."
)
_FILE_ANSWERS: dict[Any, Any] = {
    (200, media_type): OpenApiResponse(
        {"type": "string", "contentMediaType": media_type}, description=_IMAGE_FILE_DESCRIPTION
    )
    for media_type in (*MEDIA_TYPES.values(), "application/octet-stream")
}
RETRIEVE_FILE = extend_schema(
    operation_id="retrieveImageFile",
    summary="Retrieve a generated image's bytes",
    description="With the signed link of a generation's `url` (no key needed), or with a key whose owner "
    "made the image. Anything else — an expired or altered link, another owner's image — is the same 404.",
    parameters=[
        OpenApiParameter(
            "name",
            location=OpenApiParameter.PATH,
            description="The image's name: `img_<32 hex>.<png|jpeg|webp>`.",
        ),
        OpenApiParameter(
            "expires", description="A signed link's expiry (Unix seconds).", pattern=r"^[1-9][0-9]{0,11}$"
        ),
        OpenApiParameter("signature", description="A signed link's signature (hex).", pattern=r"^[0-9a-f]{64}$"),
        OpenApiParameter(
            "If-None-Match",
            location=OpenApiParameter.HEADER,
            description="An ETag of the image: answered 304 when it still matches.",
        ),
    ],
    responses={
        **_FILE_ANSWERS,
        304: OpenApiResponse(description="Not modified: the ETag sent still names the image."),
        **refusals(404),
    },
)


class KeyWhenSentScheme(OpenApiAuthenticationExtension):  # registered with drf-spectacular by subclassing
    """images.views.KeyWhenSent: the gateway's key when one is sent (a bad one is a 401), else none,
    for a signed link opens the image without a key. The `{}` alternative (no key) in the operation's
    security comes from the view's AllowAny permission."""

    target_class = "images.views.KeyWhenSent"
    name = "apiKeyWhenSent"  # not apiKey: drf-spectacular names one authentication class per scheme

    def get_security_definition(self, auto_schema: Any) -> Schema:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A gateway API key, `Authorization: Bearer …`, optional where a signed link opens "
            "the object without one; a key that is sent is checked as everywhere (a bad one is a 401).",
        }
