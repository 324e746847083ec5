"""POST /v1/audio/transcriptions, /v1/audio/translations and /v1/audio/speech."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.utils import extend_schema_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request

from audio import openapi, service
from audio.lazy_codec import codec
from audio.render import render
from audio.request import SpeechBody, TranscriptionBody, parse_speech, parse_transcription
from gateway.accounting.entry import UsageEntry
from gateway.catalog.routes import RouteTarget
from gateway.http.input_limits import LimitedJSONParser
from gateway.http.metered_view import MeteredView
from gateway.http.responses import SettledResponse, SettledTextResponse
from gateway.models import Task
from gateway.streams.keepalive import ClosingStream
from gateway.streams.settled import settled_body


@extend_schema_view(post=openapi.CREATE_TRANSCRIPTION)
class TranscriptionsView(MeteredView):
    endpoint = "audio.transcriptions"
    task = Task.TRANSCRIPTION
    speech_task = "transcribe"
    # JSON is parsed only to refuse it with a clear message (request.py): the upload is multipart.
    parser_classes = [MultiPartParser, FormParser, LimitedJSONParser]

    def parse(self, data: Any) -> TranscriptionBody:
        return parse_transcription(data, task=self.speech_task)

    def answer(
        self,
        request: Request,
        body: TranscriptionBody,
        targets: tuple[RouteTarget, ...],
        entry: UsageEntry,
        started: float,
    ) -> HttpResponseBase:
        transcript = service.transcribe(body, targets, entry)
        rendered = render(
            transcript,
            response_format=body.response_format,
            task=body.task,
            duration=service.duration_of(transcript, body),
            granularities=body.granularities,
        )
        entry.latency_ms = int((time.monotonic() - started) * 1000)
        headers = entry.admission.headers
        if isinstance(rendered.content, dict):
            return SettledResponse(rendered.content, entry, headers=headers)
        return SettledTextResponse(rendered.content, entry, content_type=rendered.content_type, headers=headers)


@extend_schema_view(post=openapi.CREATE_TRANSLATION)
class TranslationsView(TranscriptionsView):
    endpoint = "audio.translations"
    task = Task.TRANSLATION
    speech_task = "translate"


@extend_schema_view(post=openapi.CREATE_SPEECH)
class SpeechView(MeteredView):
    endpoint = "audio.speech"
    task = Task.SPEECH

    def parse(self, data: Any) -> SpeechBody:
        return parse_speech(data)

    def answer(
        self, request: Request, body: SpeechBody, targets: tuple[RouteTarget, ...], entry: UsageEntry, started: float
    ) -> HttpResponseBase:
        encoded, upstream = service.speak(body, targets, entry)
        entry.streamed = True
        response = StreamingHttpResponse(
            ClosingStream(settled_body(encoded, entry, started), upstream),
            content_type=codec.SPEECH_MEDIA_TYPES[body.response_format],
        )
        for name, value in entry.admission.headers.items():
            response[name] = value
        response["X-Accel-Buffering"] = "no"  # a proxy must pass the audio on as it is made
        return response
