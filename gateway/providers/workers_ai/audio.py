"""Workers AI speech models: the input form each whisper model takes, its answer as a Transcript,
and the voices of the text-to-speech models.

Facts from the model pages (https://developers.cloudflare.com/workers-ai/models/whisper/,
/whisper-tiny-en/, /whisper-large-v3-turbo/, /melotts/, /aura-1/, /aura-2-en/):
- whisper and whisper-tiny-en take the audio file itself as the body (or `{"audio": [uint8…]}`,
  four times the size in JSON: never used here) and answer `{text, word_count, words, vtt}`;
- whisper-large-v3-turbo takes `{"audio": "<base64>", "task", "language", "initial_prompt", …}`,
  translates with `task: "translate"`, and answers `{transcription_info, text, segments, vtt}`;
- melotts takes `{"prompt", "lang"}` and answers `{"audio": "<base64>"}` in the envelope; aura-1
  and aura-2-en take `{"text", "speaker"}` and answer the audio itself (audio/mpeg), no envelope.
"""

from __future__ import annotations

import base64
import math
import unicodedata
from typing import Any

from gateway.providers.audio import TimedWord, Transcript, TranscriptionRequest, TranscriptSegment
from gateway.providers.base import ProviderError
from gateway.providers.workers_ai.results import base64_field

TURBO = "@cf/openai/whisper-large-v3-turbo"
MELOTTS = "@cf/myshell-ai/melotts"
AURA_PREFIX = "@cf/deepgram/aura-"

# turbo runs faster-whisper, which reads any container FFmpeg does (the model page documents
# base64 audio of no particular format); the older whisper models are documented with MP3 and
# WAV files only, so anything else is sent to them as MP3 (audio/service.py transcodes).
_TURBO_CONTAINERS = frozenset({"mp3", "wav", "flac", "ogg", "webm", "mp4", "aac"})
_WHISPER_CONTAINERS = frozenset({"mp3", "wav", "flac"})


def is_turbo(model: str) -> bool:
    return model == TURBO


def accepts_container(model: str, container: str) -> bool:
    return container in (_TURBO_CONTAINERS if is_turbo(model) else _WHISPER_CONTAINERS)


def translates(model: str) -> bool:
    """Only turbo has whisper's own `task: "translate"`; whisper and tiny-en transcribe only."""
    return is_turbo(model)


def turbo_payload(request: TranscriptionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"audio": base64.b64encode(request.audio).decode("ascii"), "task": request.task}
    if request.language:
        body["language"] = request.language
    if request.prompt:
        body["initial_prompt"] = request.prompt
    return body


# --- answers --------------------------------------------------------------------------------------


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _optional_number(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _words(raw: Any) -> tuple[TimedWord, ...]:
    if not isinstance(raw, list):
        return ()
    words = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("word"), str):
            continue
        start, end = _seconds(item.get("start")), _seconds(item.get("end"))
        if start is None or end is None:
            continue
        words.append(TimedWord(word=item["word"].strip(), start=start, end=max(end, start)))
    return tuple(word for word in words if word.word)


def _segments(raw: Any) -> tuple[TranscriptSegment, ...]:
    if not isinstance(raw, list):
        return ()
    segments = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        start, end = _seconds(item.get("start")), _seconds(item.get("end"))
        if start is None or end is None:
            continue
        segments.append(
            TranscriptSegment(
                start=start,
                end=max(end, start),
                text=str(item.get("text") or ""),
                words=_words(item.get("words")),
                temperature=_optional_number(item, "temperature"),
                avg_logprob=_optional_number(item, "avg_logprob"),
                compression_ratio=_optional_number(item, "compression_ratio"),
                no_speech_prob=_optional_number(item, "no_speech_prob"),
            )
        )
    return tuple(segments)


# Models that only ever hear English: their language is known without being reported.
_ENGLISH_ONLY_SUFFIX = "-en"


def parse_transcript(result: Any, model: str) -> Transcript:
    """Either answer shape, told apart by its keys: segments and transcription_info (turbo), or
    a flat word list (whisper, tiny-en)."""
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        raise ProviderError("upstream", "Upstream error: the transcription has no text.")
    info = result.get("transcription_info") if isinstance(result.get("transcription_info"), dict) else {}
    segments = _segments(result.get("segments"))
    words = tuple(word for segment in segments for word in segment.words) or _words(result.get("words"))
    language = info.get("language")
    if not language and model.endswith(_ENGLISH_ONLY_SUFFIX):
        language = "en"
    return Transcript(
        text=result["text"].strip(),
        language=language.lower() if isinstance(language, str) and language else None,
        duration=_seconds(info.get("duration")),
        segments=segments,
        words=words,
    )


# --- speech ---------------------------------------------------------------------------------------

# MeloTTS has one speaker per language (https://developers.cloudflare.com/workers-ai/models/melotts/):
# a voice cannot change how it sounds, so the language follows the text's script instead, which
# keeps a voice from reading English with French phonemes. Latin script reads as English.
MELOTTS_DEFAULT_LANG = "en"

# OpenAI's voices on Deepgram's speakers, by the voice's register (README "Audio").
AURA_1_SPEAKERS = {
    "alloy": "asteria",
    "ash": "arcas",
    "ballad": "orpheus",
    "coral": "luna",
    "echo": "orion",
    "fable": "helios",
    "onyx": "zeus",
    "nova": "stella",
    "sage": "athena",
    "shimmer": "hera",
    "verse": "perseus",
    "marin": "luna",
    "cedar": "angus",
}
AURA_2_SPEAKERS = {
    "alloy": "asteria",
    "ash": "arcas",
    "ballad": "orpheus",
    "coral": "cora",
    "echo": "orion",
    "fable": "draco",
    "onyx": "zeus",
    "nova": "luna",
    "sage": "athena",
    "shimmer": "hera",
    "verse": "apollo",
    "marin": "thalia",
    "cedar": "atlas",
}


def melotts_lang(text: str) -> str:
    """zh, jp or kr when the text is written in that script (kana before Han: Japanese mixes
    both), else en."""
    scripts = set()
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        if "HIRAGANA" in name or "KATAKANA" in name:  # halfwidth and circled forms included
            return "jp"
        if "HANGUL" in name:
            return "kr"
        if name.startswith("CJK UNIFIED"):
            scripts.add("zh")
    return "zh" if scripts else MELOTTS_DEFAULT_LANG


def speech_payload(model: str, text: str, voice: str) -> dict[str, Any]:
    if model.startswith(AURA_PREFIX):
        speakers = AURA_1_SPEAKERS if model.startswith(AURA_PREFIX + "1") else AURA_2_SPEAKERS
        return {"text": text, "speaker": speakers.get(voice, speakers["alloy"])}
    return {"prompt": text, "lang": melotts_lang(text)}


def enveloped_audio(result: Any) -> bytes:
    """melotts: `{"audio": "<base64>"}` inside the envelope."""
    return base64_field(result, "audio", "speech audio")
