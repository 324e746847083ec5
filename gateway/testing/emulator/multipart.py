"""multipart/form-data bodies (RFC 7578), as OpenAI's audio endpoints take them
(https://platform.openai.com/docs/api-reference/audio/createTranscription), read with the
standard library's email parser (the `cgi` module is gone from newer Pythons).

A field sent more than once (the SDK's `timestamp_granularities[]`) becomes a list; file parts
(those with a filename) are kept apart with their bytes as sent.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from typing import Any

from .openai_call import UploadedFile
from .openai_errors import bad_input


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """(fields, files) of a multipart/form-data body; anything else is a 400."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise bad_input("This endpoint takes multipart/form-data.")
    message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise bad_input("The multipart/form-data body could not be read.")
    fields: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = UploadedFile(filename, part.get_content_type(), data)
            continue
        value = data.decode("utf-8", errors="replace")
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields, files


def form_model(content_type: str, body: bytes) -> str | None:
    """The `model` field of a form, for request capture; None when there is none."""
    try:
        fields, _ = parse_form(content_type, body)
    except Exception:  # noqa: BLE001 — capture must never fail; the endpoint reports a bad body
        return None
    model = fields.get("model")
    return model if isinstance(model, str) else None
