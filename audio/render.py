"""A transcript in each of OpenAI's response formats
(https://platform.openai.com/docs/api-reference/audio/createTranscription): json, text, srt, vtt
and verbose_json.

Subtitles and verbose_json segments come from the upstream's segments; an upstream that gives
words only (whisper, whisper-tiny-en) has them grouped into cues here: a cue ends after a word
closing a sentence, or once it spans CUE_SECONDS or CUE_WORDS. `seek` is the offset of the
segment's 30-second whisper window in 10 ms frames, as whisper counts it; decoder statistics the
upstream did not report are null and `tokens` is empty (Workers AI reports no token ids): never
invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from audio.languages import language_name
from gateway.providers.audio import TimedWord, Transcript, TranscriptSegment

CUE_SECONDS = 6.0
CUE_WORDS = 14
_WINDOW_SECONDS = 30
_FRAMES_PER_SECOND = 100
_SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")


@dataclass(frozen=True)
class Rendered:
    content: Any  # a dict for the JSON formats, text otherwise
    content_type: str


def _cues_from_words(words: tuple[TimedWord, ...]) -> tuple[TranscriptSegment, ...]:
    cues: list[TranscriptSegment] = []
    current: list[TimedWord] = []
    for word in words:
        current.append(word)
        long_enough = word.end - current[0].start >= CUE_SECONDS or len(current) >= CUE_WORDS
        if word.word.endswith(_SENTENCE_ENDS) or long_enough:
            cues.append(_cue(current))
            current = []
    if current:
        cues.append(_cue(current))
    return tuple(cues)


def _cue(words: list[TimedWord]) -> TranscriptSegment:
    return TranscriptSegment(
        start=words[0].start, end=words[-1].end, text=" ".join(w.word for w in words), words=tuple(words)
    )


def segments_of(transcript: Transcript, duration: float) -> tuple[TranscriptSegment, ...]:
    """The upstream's segments, else cues grouped from its words, else one cue for all the audio."""
    if transcript.segments:
        return transcript.segments
    if transcript.words:
        return _cues_from_words(transcript.words)
    if not transcript.text:
        return ()
    return (TranscriptSegment(start=0.0, end=duration, text=transcript.text),)


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: tuple[TranscriptSegment, ...]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    return "".join(
        f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n\n"
        for index, s in enumerate(segments, start=1)
    )


def vtt(segments: tuple[TranscriptSegment, ...]) -> str:
    """WebVTT (https://www.w3.org/TR/webvtt1/): the header, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues."""
    cues = "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n\n" for s in segments)
    return "WEBVTT\n\n" + cues


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _verbose_segment(index: int, segment: TranscriptSegment) -> dict[str, Any]:
    return {
        "id": index,
        "seek": int(segment.start // _WINDOW_SECONDS) * _WINDOW_SECONDS * _FRAMES_PER_SECOND,
        "start": round(segment.start, 2),
        "end": round(segment.end, 2),
        "text": segment.text if segment.text.startswith(" ") else " " + segment.text.strip(),
        "tokens": [],  # Workers AI reports no token ids
        "temperature": _rounded(segment.temperature),
        "avg_logprob": _rounded(segment.avg_logprob),
        "compression_ratio": _rounded(segment.compression_ratio),
        "no_speech_prob": _rounded(segment.no_speech_prob),
    }


def usage(seconds: float) -> dict[str, Any]:
    """OpenAI bills whisper by the second and reports whole seconds, rounded up (from hundredths,
    so a 3.0001 s measurement is 3 seconds, as the duration shown beside it)."""
    return {"type": "duration", "seconds": math.ceil(round(seconds, 2))}


def render(
    transcript: Transcript,
    *,
    response_format: str,
    task: str,
    duration: float,
    granularities: frozenset[str],
) -> Rendered:
    """`duration`: the upstream's figure, else the decoded upload's."""
    if response_format == "json":
        return Rendered({"text": transcript.text, "usage": usage(duration)}, "application/json")
    if response_format == "text":
        return Rendered(transcript.text + "\n", "text/plain; charset=utf-8")
    segments = segments_of(transcript, duration)
    if response_format == "srt":
        return Rendered(srt(segments), "text/plain; charset=utf-8")
    if response_format == "vtt":
        return Rendered(vtt(segments), "text/vtt; charset=utf-8")
    body: dict[str, Any] = {
        "task": "translate" if task == "translate" else "transcribe",
        "language": language_name(transcript.language),
        "duration": round(duration, 2),
        "text": transcript.text,
    }
    if not granularities or "segment" in granularities:
        body["segments"] = [_verbose_segment(i, s) for i, s in enumerate(segments)]
    if "word" in granularities:
        words = transcript.words or tuple(w for s in segments for w in s.words)
        body["words"] = [{"word": w.word, "start": round(w.start, 2), "end": round(w.end, 2)} for w in words]
    body["usage"] = usage(duration)
    return Rendered(body, "application/json")
