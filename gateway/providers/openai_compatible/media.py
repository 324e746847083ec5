"""Speech to text, text to speech, images and moderation on an OpenAI-compatible upstream.

MediaCalls is mixed into OpenAICompatibleProvider, which supplies the transport (`_post`, which
raises ProviderError on a non-2xx answer, `_json`, and the pooled `_session` with its `_timeout`).
Requests and answers follow OpenAI's API reference:
- https://platform.openai.com/docs/api-reference/audio (transcriptions, translations, speech)
- https://platform.openai.com/docs/api-reference/images/create
- https://platform.openai.com/docs/api-reference/moderations
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import requests

from gateway.providers import http
from gateway.providers.audio import (
    SpeechAudio,
    SpeechRequest,
    TimedWord,
    Transcript,
    TranscriptionRequest,
    TranscriptSegment,
)
from gateway.providers.base import ProviderError, Usage
from gateway.providers.images import GeneratedImage, ImageGenerationRequest
from gateway.providers.moderation import ModerationRequest, ModerationResult
from gateway.providers.openai_compatible.errors import UPSTREAM

# The containers OpenAI's transcription endpoint takes (createTranscription, `file`), by the names
# audio/codec.py sniffs; anything else (raw AAC) is transcoded to MP3 by the family first. The
# upstream tells the format by the file name's extension, so the upload is named after its container.
_CONTAINERS = frozenset({"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"})
_MEDIA_TYPES = {"mp3": "audio/mpeg", "mp4": "audio/mp4", "m4a": "audio/mp4", "wav": "audio/wav", "webm": "audio/webm"}

# gpt-4o-transcribe and gpt-4o-mini-transcribe answer `json` only (createTranscription,
# `response_format`): text, no segments, no language.
_JSON_ONLY_TRANSCRIBERS = ("gpt-4o",)

# Prompt limits and sizes per OpenAI image model (createImage, `prompt` and `size`).
_IMAGE_PROMPT_LIMITS = {"gpt-image": 32000, "dall-e-3": 4000, "dall-e-2": 1000}
_IMAGE_SIZES = {
    "gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
}

# The largest picture an image link may answer. Providers cannot read Django settings, and no
# generator answers near it (a 4096x4096 RGB PNG of noise is about 48 MiB); it only bounds the memory
# a wrong or hostile link can take.
IMAGE_LINK_MAX_BYTES = 64 * 2**20
_LINK_CHUNK_BYTES = 2**20

# Llama Guard is a chat model even where an upstream serves it: it is asked through
# chat/completions with the family's verdict prompt, not through /moderations.
_CHAT_JUDGES = ("llama-guard",)


def _family(model: str, families: Iterable[str]) -> str | None:
    """The OpenAI model family a (possibly prefixed, e.g. "openai/dall-e-3") model name is of."""
    name = model.rsplit("/", 1)[-1].lower()
    return next((family for family in families if name.startswith(family)), None)


class MediaCalls:
    if TYPE_CHECKING:  # supplied by OpenAICompatibleProvider
        _session: requests.Session
        _timeout: tuple[float, float]

        def _post(
            self,
            path: str,
            *,
            json: dict[str, Any] | None = None,
            data: dict[str, Any] | None = None,
            files: dict[str, Any] | None = None,
            stream: bool = False,
        ) -> requests.Response: ...

        def _json(self, response: requests.Response) -> dict[str, Any]: ...

    # --- speech to text ------------------------------------------------------------------------

    def accepts_container(self, model: str, container: str) -> bool:
        return container in _CONTAINERS

    def translates(self, model: str) -> bool:
        return True  # OpenAI's /audio/translations; an upstream without one answers an error

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        json_only = _family(request.model, _JSON_ONLY_TRANSCRIBERS) is not None
        form: dict[str, Any] = {"model": request.model, "response_format": "json" if json_only else "verbose_json"}
        if request.prompt:
            form["prompt"] = request.prompt
        if request.task == "transcribe":
            if request.language:
                form["language"] = request.language
            if not json_only:  # translations take no timestamp_granularities
                form["timestamp_granularities[]"] = ["word", "segment"]
        name = f"audio.{request.container}"
        upload = (name, request.audio, _MEDIA_TYPES.get(request.container, f"audio/{request.container}"))
        path = "audio/translations" if request.task == "translate" else "audio/transcriptions"
        return parse_transcript(self._json(self._post(path, data=form, files={"file": upload})))

    # --- text to speech ------------------------------------------------------------------------

    def speak(self, request: SpeechRequest) -> SpeechAudio:
        """MP3 whatever the client asked for: the family re-encodes into its format and speed, as
        it does for every upstream, so one container comes back here."""
        body = {"model": request.model, "input": request.text, "voice": request.voice, "response_format": "mp3"}
        response = self._post("audio/speech", json=body, stream=True)
        return SpeechAudio(_raw_chunks(response), close=lambda: http.abort(response))

    # --- images --------------------------------------------------------------------------------

    def prompt_limit(self, model: str) -> int | None:
        family = _family(model, _IMAGE_PROMPT_LIMITS)
        return _IMAGE_PROMPT_LIMITS[family] if family else None

    def generate_image(self, request: ImageGenerationRequest) -> GeneratedImage:
        family = _family(request.model, _IMAGE_SIZES)
        width, height = _upstream_size(family, request.width, request.height)
        body: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": 1, "size": f"{width}x{height}"}
        if family != "gpt-image":  # gpt-image models always answer b64_json and refuse the field
            body["response_format"] = "b64_json"
        item = _first_image(self._json(self._post("images/generations", json=body)))
        if isinstance(item.get("b64_json"), str):
            return GeneratedImage(_decoded(item["b64_json"]))
        if isinstance(item.get("url"), str) and item["url"].startswith(("https://", "http://")):
            return GeneratedImage(self._download(item["url"]))
        raise _bad_answer("the image has neither b64_json nor a url.")

    def _download(self, url: str) -> bytes:
        # Neither the token nor the operator's extra headers (both go only with self._headers, in
        # _send): the link is usually signed storage on another host, which must never see them.
        try:
            response = self._session.get(url, timeout=self._timeout, stream=True)
        except requests.RequestException as exc:
            raise http.transport_error(exc, UPSTREAM) from exc
        try:
            if not response.ok:
                raise _bad_answer(f"the image link answered {response.status_code}.", status=response.status_code)
            return _capped_body(response)
        finally:
            response.close()

    # --- moderation ----------------------------------------------------------------------------

    def moderates(self, model: str) -> bool:
        return not any(judge in model.lower() for judge in _CHAT_JUDGES)

    def moderate(self, request: ModerationRequest) -> tuple[list[ModerationResult], Usage | None]:
        body = self._json(self._post("moderations", json={"model": request.model, "input": list(request.inputs)}))
        results = body.get("results")
        if not isinstance(results, list) or len(results) != len(request.inputs):
            raise _bad_answer("the moderation has not one result per input.")
        return [_moderation_result(item) for item in results], _usage(body.get("usage"))


# --- answers -------------------------------------------------------------------------------------


def _bad_answer(what: str, *, status: int | None = None) -> ProviderError:
    return ProviderError("upstream", f"Upstream error: {what}", upstream_status=status)


def _capped_body(response: requests.Response) -> bytes:
    """The body, read until IMAGE_LINK_MAX_BYTES: a link may lead anywhere, and the whole answer
    is held in memory. Counted after decoding, so a small gzip body cannot unpack past the cap."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > IMAGE_LINK_MAX_BYTES:  # "²" is a digit
        raise _too_large()
    body = bytearray()
    try:
        for chunk in response.iter_content(chunk_size=_LINK_CHUNK_BYTES):
            body += chunk
            if len(body) > IMAGE_LINK_MAX_BYTES:
                raise _too_large()
    except requests.RequestException as exc:
        raise http.transport_error(exc, UPSTREAM) from exc
    return bytes(body)


def _too_large() -> ProviderError:
    return _bad_answer(f"the image link answered more than {IMAGE_LINK_MAX_BYTES // 2**20} MiB.")


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(chunk_size=None)
    except requests.RequestException as exc:
        raise http.transport_error(exc, UPSTREAM) from exc
    finally:
        response.close()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _seconds(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _words(raw: Any) -> tuple[TimedWord, ...]:
    words = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("word"), str) or not item["word"].strip():
            continue
        start, end = _seconds(item.get("start")), _seconds(item.get("end"))
        if start is not None and end is not None:
            words.append(TimedWord(word=item["word"].strip(), start=start, end=max(start, end)))
    return tuple(words)


def _segments(raw: Any) -> tuple[TranscriptSegment, ...]:
    segments = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict):
            continue
        start, end = _seconds(item.get("start")), _seconds(item.get("end"))
        if start is None or end is None:
            continue
        segments.append(
            TranscriptSegment(
                start=start,
                end=max(start, end),
                text=str(item.get("text") or ""),
                temperature=_number(item.get("temperature")),
                avg_logprob=_number(item.get("avg_logprob")),
                compression_ratio=_number(item.get("compression_ratio")),
                no_speech_prob=_number(item.get("no_speech_prob")),
            )
        )
    return tuple(segments)


def parse_transcript(body: dict[str, Any]) -> Transcript:
    """verbose_json (or json): `language` is kept as reported — OpenAI names it ("english"), some
    servers give the code ("en"); the family's renderer reads either."""
    if not isinstance(body.get("text"), str):
        raise _bad_answer("the transcription has no text.")
    language = body.get("language")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    duration = _seconds(body.get("duration"))
    if duration is None and usage.get("type") == "duration":
        duration = _seconds(usage.get("seconds"))
    return Transcript(
        text=body["text"].strip(),
        language=language.strip().lower() if isinstance(language, str) and language.strip() else None,
        duration=duration,
        segments=_segments(body.get("segments")),
        words=_words(body.get("words")),
    )


def _upstream_size(family: str | None, width: int, height: int) -> tuple[int, int]:
    """The asked size when the model takes it; else its size nearest in shape (the family fits the
    picture to the asked size afterwards). Unknown models are sent the asked size."""
    sizes = _IMAGE_SIZES.get(family or "")
    if not sizes or (width, height) in sizes:
        return width, height
    return min(sizes, key=lambda size: (abs(math.log(size[0] / size[1]) - math.log(width / height)), -size[0]))


def _first_image(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise _bad_answer("the image generation answered no image.")
    return data[0]


def _decoded(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_answer("the image is not base64.") from exc


def _moderation_result(item: Any) -> ModerationResult:
    if not isinstance(item, dict) or not isinstance(item.get("flagged"), bool):
        raise _bad_answer("a moderation result has no `flagged`.")
    categories = item.get("categories") if isinstance(item.get("categories"), dict) else {}
    scores = item.get("category_scores") if isinstance(item.get("category_scores"), dict) else {}
    applied = item.get("category_applied_input_types")
    return ModerationResult(
        flagged=item["flagged"],
        categories={name: value for name, value in categories.items() if isinstance(value, bool)},
        category_scores={name: score for name, value in scores.items() if (score := _number(value)) is not None},
        applied_input_types=(
            {name: tuple(str(kind) for kind in kinds) for name, kinds in applied.items() if isinstance(kinds, list)}
            if isinstance(applied, dict)
            else None
        ),
    )


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("prompt_tokens"), int):
        return None
    completion = raw.get("completion_tokens")
    return Usage(raw["prompt_tokens"], completion if isinstance(completion, int) else 0)
