"""WorkersAIProvider: the HTTP calls to one account's /ai/run and /ai/models/search, and their envelope.

Payloads, answers, stream events, errors and catalogue items are each read or written by their own
module in this package; this one sends, checks the `{success, errors, result}` envelope and
chooses between them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import requests

from gateway.providers import http
from gateway.providers.audio import SpeechAudio, SpeechRequest, Transcript, TranscriptionRequest
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
from gateway.providers.images import GeneratedImage, ImageGenerationRequest
from gateway.providers.workers_ai import audio, images
from gateway.providers.workers_ai.catalogue import catalogue_model
from gateway.providers.workers_ai.embeddings import EMBEDDING_BATCH, parse_embeddings
from gateway.providers.workers_ai.errors import UPSTREAM, error_from_response
from gateway.providers.workers_ai.payload import build_payload, uses_responses_form
from gateway.providers.workers_ai.results import parse_result
from gateway.providers.workers_ai.stream import translate_stream

CATALOGUE_PAGE_SIZE = 100  # few round trips for the whole catalogue
CATALOGUE_MAX_PAGES = 50  # a guard against an upstream whose paging never ends

# Llama 3.2 models answer 403/5016 until {"prompt": "agree"} has been sent to them once per account
# (https://developers.cloudflare.com/workers-ai/platform/errors/ and
# https://developers.cloudflare.com/workers-ai/models/llama-3.2-11b-vision-instruct/). The (account
# URL, model) pairs this process agreed for: a 5016 after that is retried once, never agreed
# again. The lock makes a burst of first requests agree once and wait for it.
LICENCE_NOT_AGREED = 5016
LICENCE_AGREEMENT = {"prompt": "agree"}
_agreed: set[tuple[str, str]] = set()
_agreed_lock = threading.Lock()


class WorkersAIProvider:
    catalogue_page_size = CATALOGUE_PAGE_SIZE
    embedding_batch = EMBEDDING_BATCH

    def __init__(self, config: ProviderConfig, session: requests.Session | None = None) -> None:
        self._session = session if session is not None else http.session_for(config.base_url)
        self._account_url = f"{config.base_url.rstrip('/')}/accounts/{config.account_id}"
        self._headers = {"Authorization": f"Bearer {config.api_token}"}
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._secrets = (config.api_token, config.account_id)

    def chat(self, request: ChatRequest) -> ChatResult:
        response = self._post(request.model, build_payload(request, stream=False), stream=False)
        return parse_result(self._result_of(response), request.reasoning)

    def chat_stream(self, request: ChatRequest) -> DeltaStream:
        """Start a stream: upstream errors before the first event raise here, not on iteration.

        gpt-oss: the Responses form does not stream (/ai/v1/responses is non-streaming, see
        https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/, and
        the emulator answers 5006 to stream:true), so its answer is fetched whole and replayed as
        deltas: reasoning, then content and tool calls, then usage.
        """
        if uses_responses_form(request.model):
            return DeltaStream(iter(deltas_of(self.chat(request))), None, upstream=UPSTREAM)
        response = self._post(request.model, build_payload(request, stream=True), stream=True)
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # A model that ignores `stream` (JSON mode does not stream) answers with an envelope.
            try:
                result = parse_result(self._result_of(response), request.reasoning)
            finally:
                response.close()
            return DeltaStream(iter(deltas_of(result)), None, upstream=UPSTREAM)
        events = iter_event_data(response.iter_content(chunk_size=None))
        return DeltaStream(translate_stream(events, request.reasoning, self._secrets), response, upstream=UPSTREAM)

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """`{"text": [...]}` → `{"shape": [n, d], "data": [[...], ...]}`, checked against the texts sent."""
        result = self._result_of(self._post(request.model, {"text": list(request.texts)}, stream=False))
        return parse_embeddings(result, len(request.texts))

    def accepts_container(self, model: str, container: str) -> bool:
        return audio.accepts_container(model, container)

    def translates(self, model: str) -> bool:
        return audio.translates(model)

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        if audio.is_turbo(request.model):
            response = self._post(request.model, audio.turbo_payload(request), stream=False)
        else:  # the file itself as the body (reference, Speech to text)
            response = self._post_bytes(request.model, request.audio)
        return audio.parse_transcript(self._result_of(response), request.model)

    def speak(self, request: SpeechRequest) -> SpeechAudio:
        """melotts answers JSON in the envelope, aura the audio itself: told apart by Content-Type.
        The raw answer is read as it arrives, so transcoding can start before its end."""
        payload = audio.speech_payload(request.model, request.text, request.voice)
        response = self._post(request.model, payload, stream=True)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                return SpeechAudio(iter([audio.enveloped_audio(self._result_of(response))]))
            finally:
                response.close()
        return SpeechAudio(self._raw_chunks(response), close=lambda: http.abort(response))

    def prompt_limit(self, model: str) -> int | None:
        return images.prompt_limit(model)

    def generate_image(self, request: ImageGenerationRequest) -> GeneratedImage:
        """FLUX answers base64 in the envelope, SDXL the image itself: told apart by Content-Type."""
        response = self._post(request.model, images.image_payload(request), stream=False)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return GeneratedImage(images.enveloped_image(self._result_of(response)))
        return GeneratedImage(self._body_of(response))

    def _raw_chunks(self, response: requests.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_content(chunk_size=None)
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        finally:
            response.close()

    def list_models(self) -> list[CatalogueModel]:
        models: list[CatalogueModel] = []
        fetched = 0
        for page in range(1, CATALOGUE_MAX_PAGES + 1):
            params = {"page": page, "per_page": self.catalogue_page_size}
            body = self._envelope(self._get("/ai/models/search", params))
            items = body.get("result") or []
            models.extend(catalogue_model(i) for i in items if isinstance(i, dict) and i.get("name"))
            fetched += len(items)
            info = body.get("result_info") or {}
            total = info.get("total_count")
            per_page = info.get("per_page") or self.catalogue_page_size
            if not items or (fetched >= total if isinstance(total, int) else len(items) < per_page):
                break
        return models

    # --- transport -----------------------------------------------------------------------------

    def _post(self, model: str, body: dict[str, Any], *, stream: bool) -> requests.Response:
        # The model id goes into the path as it is, slashes and "@" included (reference, Endpoint).
        url = f"{self._account_url}/ai/run/{model}"
        try:
            return self._send("POST", url, json=body, stream=stream)
        except ProviderError as exc:
            if exc.upstream_code != LICENCE_NOT_AGREED:
                raise
            self._agree(url, model, exc)
        return self._send("POST", url, json=body, stream=stream)

    def _post_bytes(self, model: str, body: bytes) -> requests.Response:
        url = f"{self._account_url}/ai/run/{model}"
        return self._send("POST", url, data=body, stream=False, content_type="application/octet-stream")

    def _agree(self, url: str, model: str, refusal: ProviderError) -> None:
        """Agree to the model's licence, once per account and model; the refusal if that fails."""
        key = (self._account_url, model)
        with _agreed_lock:
            if key in _agreed:
                return
            try:
                self._result_of(self._send("POST", url, json=LICENCE_AGREEMENT, stream=False))
            except ProviderError:
                raise refusal from None
            _agreed.add(key)

    def _get(self, path: str, params: dict[str, Any]) -> requests.Response:
        return self._send("GET", self._account_url + path, params=params, stream=False)

    def _send(self, method: str, url: str, content_type: str | None = None, **kwargs: Any) -> requests.Response:
        headers = self._headers if content_type is None else {**self._headers, "Content-Type": content_type}
        try:
            response = http.request(self._session, method, url, headers=headers, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        if not response.ok:
            try:
                raise error_from_response(
                    response.status_code, response.headers, self._body_of(response), self._secrets
                )
            finally:
                response.close()
        return response

    def _body_of(self, response: requests.Response) -> bytes:
        try:
            return response.content
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc

    def _envelope(self, response: requests.Response) -> dict[str, Any]:
        raw = self._body_of(response)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ProviderError(
                "upstream", f"{UPSTREAM} answered with a body that is not JSON.", upstream_status=response.status_code
            ) from exc
        if not isinstance(body, dict):
            raise ProviderError(
                "upstream", f"{UPSTREAM} answered with an unexpected body.", upstream_status=response.status_code
            )
        if body.get("success") is False or body.get("errors"):
            raise error_from_response(response.status_code, response.headers, raw, self._secrets)
        return body

    def _result_of(self, response: requests.Response) -> Any:
        return self._envelope(response).get("result")
