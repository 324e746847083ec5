"""OpenAICompatibleProvider: the HTTP calls to one OpenAI-compatible base URL.

The base URL is the part before /chat/completions: Cloudflare's
https://api.cloudflare.com/client/v4/accounts/<id>/ai/v1, vLLM's http://host:8000/v1, Ollama's
http://host:11434/v1, https://api.openai.com/v1. Bodies, answers, stream events and errors are
each read or written by their own module in this package; this one sends and chooses between
them. The media calls (audio, images, moderation) live in media.py and use `_post` and `_json`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from gateway.providers import http
from gateway.providers.base import (
    CatalogueModel,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    ProviderConfig,
    ProviderError,
)
from gateway.providers.delta_stream import DeltaStream, deltas_of
from gateway.providers.event_stream import iter_event_data
from gateway.providers.openai_compatible.errors import UPSTREAM, error_from_response
from gateway.providers.openai_compatible.media import MediaCalls
from gateway.providers.openai_compatible.payload import chat_body, completion_body, embeddings_body
from gateway.providers.openai_compatible.results import (
    parse_chat_completion,
    parse_embeddings_list,
    parse_model_list,
    parse_text_completion,
)
from gateway.providers.openai_compatible.stream import translate_chunks

# Texts per embeddings call. OpenAI takes up to 2048 inputs (and 300k tokens) a request, but
# self-hosted servers embed a request as one batch: a smaller one keeps each call's memory and
# time (it must end within read_timeout) modest, at a few extra round trips for very large inputs.
EMBEDDING_BATCH = 256
# Cloudflare's /ai/v1 runs the same embedding models as /ai/run, which take at most 100 texts
# (https://developers.cloudflare.com/workers-ai/models/bge-base-en-v1.5/, Input).
CLOUDFLARE_EMBEDDING_BATCH = 100
_CLOUDFLARE_BASE = re.compile(r"/accounts/([^/]+)/ai/v1/?$")


class OpenAICompatibleProvider(MediaCalls):
    def __init__(self, config: ProviderConfig, session: requests.Session | None = None) -> None:
        self._base_url = config.base_url.rstrip("/")
        self._session = session if session is not None else http.session_for(self._base_url)
        # Ollama and a local vLLM need no token: no Authorization header then. The operator's
        # headers cannot replace it (gateway/models.py refuses Authorization among them).
        self._headers = dict(config.extra_headers or {})
        if config.api_token:
            self._headers["Authorization"] = f"Bearer {config.api_token}"
        self._timeout = (config.connect_timeout, config.read_timeout)
        cloudflare = _CLOUDFLARE_BASE.search(self._base_url)
        # Never quoted back to clients: the token, and the account id a Cloudflare base URL holds.
        self._secrets = tuple(s for s in (config.api_token, config.account_id, cloudflare and cloudflare[1]) if s)
        self.embedding_batch = CLOUDFLARE_EMBEDDING_BATCH if cloudflare else EMBEDDING_BATCH

    # --- chat ---------------------------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResult:
        if request.prompt is not None:
            body = self._json(self._post("completions", json=completion_body(request, stream=False)))
            return parse_text_completion(body, request.reasoning)
        body = self._json(self._post("chat/completions", json=chat_body(request, stream=False)))
        return parse_chat_completion(body, request.reasoning)

    def chat_stream(self, request: ChatRequest) -> DeltaStream:
        """Start a stream: a refusal (any non-2xx) raises here, before iteration; a stream that
        ends without a usage event simply ends without usage (the gateway estimates it)."""
        if request.prompt is not None:
            response = self._post("completions", json=completion_body(request, stream=True), stream=True)
        else:
            response = self._post("chat/completions", json=chat_body(request, stream=True), stream=True)
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # A server that ignores `stream` answers whole: replayed as a stream would have told it.
            try:
                body = self._json(response)
            finally:
                response.close()
            parse = parse_text_completion if request.prompt is not None else parse_chat_completion
            return DeltaStream(iter(deltas_of(parse(body, request.reasoning))), None, upstream=UPSTREAM)
        events = iter_event_data(response.iter_content(chunk_size=None))
        return DeltaStream(translate_chunks(events, request.reasoning, self._secrets), response, upstream=UPSTREAM)

    # --- embeddings and the model list --------------------------------------------------------------

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        body = self._json(self._post("embeddings", json=embeddings_body(request)))
        return parse_embeddings_list(body, len(request.texts))

    def list_models(self) -> list[CatalogueModel]:
        try:
            response = self._send("GET", "models")
        except ProviderError as exc:
            if exc.upstream_status != 405:
                raise
            # Cloudflare's /ai/v1 has no model list (405, code 7001): its catalogue is
            # /ai/models/search, which a provider of kind workers_ai reads.
            raise ProviderError(
                "upstream",
                "This upstream does not list its models (GET /models answered 405). For Cloudflare's "
                "/ai/v1, sync the catalogue through a provider of kind workers_ai on the same account, "
                "or add routes by hand.",
                upstream_status=405,
                upstream_code=exc.upstream_code,
            ) from exc
        return parse_model_list(self._json(response))

    # --- transport (also used by media.py) ----------------------------------------------------------

    def _post(
        self,
        path: str,
        *,
        json: dict | None = None,
        data: dict | None = None,
        files: dict | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """POST to `path` under the base URL ("chat/completions"); ProviderError for a non-2xx
        answer or a transport failure. With `stream`, the body is left to the caller to read."""
        return self._send("POST", path, json=json, data=data, files=files, stream=stream)

    def _json(self, response: requests.Response) -> dict:
        """The JSON object an answer holds, or ProviderError "upstream"."""
        try:
            raw = response.content
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ProviderError(
                "upstream", "Upstream answered with a body that is not JSON.", upstream_status=response.status_code
            ) from exc
        if not isinstance(body, dict):
            raise ProviderError(
                "upstream", "Upstream answered with an unexpected body.", upstream_status=response.status_code
            )
        if body.get("object") == "error" or (body.get("error") and "choices" not in body and "data" not in body):
            # Some servers answer a failure with 200 and an error body.
            raise error_from_response(response.status_code, response.headers, raw, self._secrets)
        return body

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self._base_url}/{path.lstrip('/')}"
        try:
            response = http.request(self._session, method, url, headers=self._headers, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        if not response.ok:
            try:
                raw = response.content
            except requests.RequestException as exc:
                raise http.transport_error(exc, UPSTREAM) from exc
            finally:
                response.close()
            raise error_from_response(response.status_code, response.headers, raw, self._secrets)
        return response
