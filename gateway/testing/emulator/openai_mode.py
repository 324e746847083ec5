"""The emulator's OpenAI-compatible mode: which paths it serves, auth, injected errors, and the
endpoint that answers each path. The handler (handler.py) captures, delays and writes; the
endpoints translate to the models' own inputs and run them through /ai/run's code.

Two bases:
- Cloudflare's, `{base_url}/accounts/{account}/ai/v1` (POST chat/completions and embeddings, as
  https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/ documents
  them; GET …/ai/v1/models stays 405 / 7001): authenticated as /ai/run, errors in Cloudflare's
  envelope with /ai/run's codes.
- A generic OpenAI server, `{root}/openai/v1` (WorkersAIEmulator.openai_base_url), as vLLM,
  Ollama or OpenAI serve one: chat/completions, completions, embeddings, moderations,
  audio/transcriptions, audio/translations, audio/speech, images/generations, GET models and
  models/{id}; Bearer = the emulator's token; errors as OpenAI sends them
  (https://platform.openai.com/docs/guides/error-codes). Images answered in the url form are
  served, without auth, from GET images/files/{name}.

inject_error() applies to every POST here, matched against the body's `model` (a form's `model`
field for the audio uploads), before any validation, as on /ai/run.
The llama-3.2 vision licence gate (403 / 5016) is /ai/run's alone: the OpenAI mode answers the
vision model without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .catalogue import MODELS, CatalogueModel, find_model
from .model_reply import ModelReply
from .multipart import form_model, parse_form
from .openai_audio import speech, transcriptions, translations
from .openai_call import OpenAICall, json_object, without_nulls
from .openai_chat import chat_completions
from .openai_completions import completions
from .openai_embeddings import embeddings
from .openai_errors import Base, OpenAIError, injected, not_authenticated, unknown_model
from .openai_images import FILES_PATH, generations, stored_file
from .openai_moderations import moderations

if TYPE_CHECKING:
    from .server import WorkersAIEmulator

OPENAI_BASE_PATH = "/openai/v1"
_CLOUDFLARE = re.compile(r"^/accounts/(?P<account>[^/]+)/ai/v1/(?P<endpoint>chat/completions|embeddings)$")
# The catalogue's models were all published on this date, as far as GET models is concerned.
MODELS_CREATED = 1735689600  # 2025-01-01T00:00:00Z

Endpoint = Callable[[OpenAICall], ModelReply]


@dataclass(frozen=True)
class OpenAIRoute:
    base: Base
    endpoint: str  # the path after the base, e.g. "chat/completions"
    account: str | None = None  # Cloudflare's base only

    @property
    def multipart(self) -> bool:
        return self.endpoint in ("audio/transcriptions", "audio/translations")


def match_route(path: str, under_base: bool) -> OpenAIRoute | None:
    """The OpenAI-mode route of a request path (after /client/v4 when `under_base`), or None."""
    if under_base:
        found = _CLOUDFLARE.match(path)
        return OpenAIRoute("cloudflare", found.group("endpoint"), found.group("account")) if found else None
    if path.startswith(OPENAI_BASE_PATH + "/"):
        return OpenAIRoute("openai", path[len(OPENAI_BASE_PATH) + 1 :])
    return None


def requested_model(route: OpenAIRoute, content_type: str, raw: bytes) -> str | None:
    """The model a request names (captured, and matched by injected errors)."""
    if route.multipart:
        return form_model(content_type, raw)
    try:
        body = json_object(raw)
    except OpenAIError:
        return None
    return body["model"] if isinstance(body.get("model"), str) else None


def _post_endpoints() -> dict[str, Endpoint]:
    return {
        "chat/completions": chat_completions,
        "completions": completions,
        "embeddings": embeddings,
        "moderations": moderations,
        "audio/transcriptions": transcriptions,
        "audio/translations": translations,
        "audio/speech": speech,
        "images/generations": generations,
    }


_CLOUDFLARE_ENDPOINTS = ("chat/completions", "embeddings")


def serve(
    route: OpenAIRoute, method: str, headers: Mapping[str, str], raw: bytes, emulator: WorkersAIEmulator
) -> ModelReply:
    """The answer to one OpenAI-mode request; raises OpenAIError for any refusal. Cloudflare's
    auth has been checked by the handler (as for /ai/run)."""
    if route.base == "openai":
        public = _public_get(route, method, emulator)
        if public is not None:
            return public
        authorization = headers.get("authorization")
        if authorization != f"Bearer {emulator.token}":
            raise not_authenticated(authorization)
        if method == "GET":
            return _get(route)
    endpoints = _post_endpoints()
    if route.base == "cloudflare":
        endpoints = {name: endpoints[name] for name in _CLOUDFLARE_ENDPOINTS}
    endpoint = endpoints.get(route.endpoint)
    if endpoint is None:
        raise _no_route(method, route)
    if method != "POST":
        raise OpenAIError(405, 7001, "Method not allowed", cf_message="Method not allowed")
    content_type = headers.get("content-type", "")
    refusal = emulator._take_error(requested_model(route, content_type, raw))
    if refusal is not None:
        raise injected(refusal.status, refusal.code, refusal.message, refusal.retry_after)
    if route.multipart:
        fields, files = parse_form(content_type, raw)
        call = OpenAICall(route.base, without_nulls(fields), emulator, files)
    else:
        call = OpenAICall(route.base, json_object(raw), emulator)
    return endpoint(call)


def _no_route(method: str, route: OpenAIRoute) -> OpenAIError:
    return OpenAIError(
        404, 7000, f"Invalid URL ({method} {OPENAI_BASE_PATH}/{route.endpoint})", cf_message="No route for that URI"
    )


def _public_get(route: OpenAIRoute, method: str, emulator: WorkersAIEmulator) -> ModelReply | None:
    """The stored images of url-form answers, served without auth as a signed link would be."""
    if method == "GET" and route.endpoint.startswith(FILES_PATH):
        return stored_file(emulator, route.endpoint.removeprefix(FILES_PATH))
    return None


def _get(route: OpenAIRoute) -> ModelReply:
    if route.endpoint == "models":
        return ModelReply(result={"object": "list", "data": [model_card(m) for m in MODELS]})
    if route.endpoint.startswith("models/"):
        # openai-python ≥ 2.30 sends a "/" inside an id as %2F.
        name = unquote(route.endpoint.removeprefix("models/"))
        model = find_model(name)
        if model is None:
            raise unknown_model(name)
        return ModelReply(result=model_card(model))
    if route.endpoint in _post_endpoints():
        raise OpenAIError(405, 7001, "Method not allowed")
    raise _no_route("GET", route)


def model_card(model: CatalogueModel) -> dict[str, Any]:
    """One Model object (https://platform.openai.com/docs/api-reference/models/object); the owner is
    the author segment of the name, "meta" in @cf/meta/…."""
    return {"id": model.name, "object": "model", "created": MODELS_CREATED, "owned_by": model.name.split("/")[1]}
