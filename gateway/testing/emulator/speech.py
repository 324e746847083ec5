"""Deterministic outputs of the speech models: Whisper transcripts, MeloTTS and Aura audio.

Shapes follow the public model pages (https://developers.cloudflare.com/workers-ai/models/whisper/,
/whisper-tiny-en/, /whisper-large-v3-turbo/, /melotts/, /aura-1/, /aura-2-en/); the audio is
real (speech_audio.py), so a gateway that decodes, measures or converts it gets something true.

The transcript rule (tests rely on it):
- The received audio is decoded to its real duration D (seconds). Undecodable, empty or
  non-audio input answers 400 / 3010.
- Word count N = 2.5 × D rounded half up, at least 1 when D > 0.2 s, else 0 (text "", no words).
- The words are the first N of a fixed English paragraph, repeated as often as needed:
  TRANSCRIPTION for transcribing, TRANSLATION for turbo's task "translate" (a different
  paragraph, so the two are told apart by their first word: "The" and "Good"). Each of their
  sentences has 8 to 12 words and ends with a period. Turbo's `prefix` (if any) supplies the
  first words instead, and the paragraph follows; `initial_prompt` is accepted and ignored.
- Word i takes the i-th of N equal slots of D: start = i·D/N, end = start + 0.8·D/N, both rounded
  to 0.01 s, so times increase and never overlap.
- Turbo's segments are the sentences (a last, unfinished one included): start of its first
  word, end of its last, the sentence's words; temperature 0.0, avg_logprob -0.18,
  compression_ratio 1.35, no_speech_prob 0.01. transcription_info: language = the request's
  `language` or "en" (probability 1.0 when given, 0.98 when "detected"), duration =
  duration_after_vad = D rounded to 0.001 s.
- `vtt` is WebVTT with one cue per sentence, "HH:MM:SS.mmm --> HH:MM:SS.mmm".
Whisper and whisper-tiny-en answer text, word_count, words and vtt only.

Speech: MeloTTS and Aura say every whitespace-separated word of the prompt/text as a 0.4 s tone
(at least 0.6 s in all; speech_audio.py). MeloTTS answers {"audio": base64 MP3 at 44.1 kHz,
starting with an ID3 tag}, or a WAV when the emulator is switched so (set_speech_container).
Aura answers the bytes themselves (no envelope, chunked) in the requested encoding and container,
Deepgram's defaults otherwise (MP3 at 22.05 kHz, 48 kbit/s; linear16, μ-law and A-law in WAV);
Content-Type audio/mpeg, audio/wav, audio/flac, audio/ogg (Opus), audio/aac (ADTS), or
application/octet-stream for container "none" (raw PCM, μ-law, A-law). Its MP3 starts with a
frame sync, not an ID3 tag, so a gateway sniffing magic bytes meets both forms.
"""

from __future__ import annotations

import base64
from typing import Any

from .catalogue import CatalogueModel
from .speech_audio import audio_duration, encode, speech_pcm
from .speech_input import AURA_FORMATS

WORDS_PER_SECOND = 2.5
MIN_SPEECH_SECONDS = 0.2  # shorter audio transcribes to nothing
_WORD_SHARE = 0.8  # of a word's slot; the rest is the pause before the next word

TRANSCRIPTION = (
    "The morning train left the station a little after seven o'clock. "
    "Most of the passengers were reading or looking out at the fields. "
    "A conductor walked slowly through the carriages checking every ticket twice. "
    "By the window an old man told a story about the sea. "
    "His granddaughter listened carefully and asked what happened to the boat. "
    "He smiled and said that the boat came home safely. "
    "Outside the rain had stopped and the sky was turning blue. "
    "When the train arrived everyone stood up and reached for their bags."
).split()
TRANSLATION = (
    "Good evening and welcome to the news at nine o'clock. "
    "The city council approved the new budget for public libraries today. "
    "Several schools will open longer in the afternoons starting next month. "
    "In the north strong winds are expected until Sunday morning. "
    "Farmers say the late frost has damaged part of the harvest. "
    "Our local football team won its third match in a row. "
    "Tickets for the summer festival go on sale this Friday. "
    "Thank you for listening and have a pleasant night."
).split()

MELOTTS_RATE = 44100  # MeloTTS synthesises at 44.1 kHz
SPEECH_CONTAINERS = ("mp3", "wav")


def word_count(duration: float) -> int:
    if duration <= MIN_SPEECH_SECONDS:
        return 0
    return max(1, int(duration * WORDS_PER_SECOND + 0.5))


def transcript_words(count: int, task: str = "transcribe", prefix: str | None = None) -> list[str]:
    source = TRANSLATION if task == "translate" else TRANSCRIPTION
    words = (prefix.split() if prefix else []) + [source[i % len(source)] for i in range(count)]
    return words[:count]


def timed_words(words: list[str], duration: float) -> list[dict[str, Any]]:
    slot = duration / len(words) if words else 0.0
    return [
        {"word": w, "start": round(i * slot, 2), "end": round((i + _WORD_SHARE) * slot, 2)} for i, w in enumerate(words)
    ]


def sentences(words: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[]]
    for word in words:
        groups[-1].append(word)
        if word["word"].endswith((".", "?", "!")):
            groups.append([])
    return [g for g in groups if g]


def vtt_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def webvtt(groups: list[list[dict[str, Any]]]) -> str:
    cues = [
        f"{vtt_timestamp(g[0]['start'])} --> {vtt_timestamp(g[-1]['end'])}\n{' '.join(w['word'] for w in g)}\n\n"
        for g in groups
    ]
    return "WEBVTT\n\n" + "".join(cues)


def _audio_bytes(body: Any, raw_body: bytes) -> bytes:
    """{"audio": [uint8…]} (whisper, tiny-en), {"audio": "<base64>"} (turbo) or the raw body."""
    if isinstance(body, dict) and isinstance(body.get("audio"), list):
        return bytes(body["audio"])
    if isinstance(body, dict):
        return base64.b64decode(body["audio"])
    return raw_body


def whisper_result(model: CatalogueModel, body: Any, raw_body: bytes) -> dict[str, Any]:
    """The transcript of already-validated input (see the module docstring); raises
    UnreadableAudio for audio that does not decode."""
    duration = audio_duration(_audio_bytes(body, raw_body))
    options = body if isinstance(body, dict) and model.family == "whisper-turbo" else {}
    words = timed_words(
        transcript_words(word_count(duration), options.get("task", "transcribe"), options.get("prefix")), duration
    )
    groups = sentences(words)
    text = " ".join(w["word"] for w in words)
    if model.family == "whisper":
        return {"text": text, "word_count": len(words), "words": words, "vtt": webvtt(groups)}
    language = options.get("language")
    return {
        "transcription_info": {
            "language": language or "en",
            "language_probability": 1.0 if language else 0.98,
            "duration": round(duration, 3),
            "duration_after_vad": round(duration, 3),
        },
        "text": text,
        "word_count": len(words),
        "segments": [
            {
                "start": group[0]["start"],
                "end": group[-1]["end"],
                "text": " ".join(w["word"] for w in group),
                "temperature": 0.0,
                "avg_logprob": -0.18,
                "compression_ratio": 1.35,
                "no_speech_prob": 0.01,
                "words": group,
            }
            for group in groups
        ],
        "vtt": webvtt(groups),
    }


def melotts_result(body: dict[str, Any], container: str = "mp3") -> dict[str, Any]:
    pcm = speech_pcm(body["prompt"].split(), MELOTTS_RATE)
    if container == "wav":
        audio = encode(pcm, MELOTTS_RATE, "wav", "pcm_s16le")
    else:
        audio = encode(pcm, MELOTTS_RATE, "mp3", "libmp3lame")
    return {"audio": base64.b64encode(audio).decode("ascii")}


# (encoding, container) → FFmpeg muxer, encoder, the answer's Content-Type. Raw PCM, μ-law and
# A-law without a container carry no header that names them: application/octet-stream.
_AURA_OUTPUTS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("mp3", "none"): ("mp3", "libmp3lame", "audio/mpeg"),
    ("linear16", "wav"): ("wav", "pcm_s16le", "audio/wav"),
    ("linear16", "none"): ("s16le", "pcm_s16le", "application/octet-stream"),
    ("mulaw", "wav"): ("wav", "pcm_mulaw", "audio/wav"),
    ("mulaw", "none"): ("mulaw", "pcm_mulaw", "application/octet-stream"),
    ("alaw", "wav"): ("wav", "pcm_alaw", "audio/wav"),
    ("alaw", "none"): ("alaw", "pcm_alaw", "application/octet-stream"),
    ("flac", "none"): ("flac", "flac", "audio/flac"),
    ("opus", "ogg"): ("ogg", "libopus", "audio/ogg"),
    ("aac", "none"): ("adts", "aac", "audio/aac"),
}


def aura_output(body: dict[str, Any]) -> tuple[str, str, int, int | None]:
    """(encoding, container, sample rate, bit rate) of an already-validated Aura input, with
    Deepgram's defaults: mp3 at 22.05 kHz, 48 kbit/s unless the request says otherwise."""
    encoding = body.get("encoding", "mp3")
    fmt = AURA_FORMATS[encoding]
    container = body.get("container", fmt.containers[0])
    rate = int(body.get("sample_rate", fmt.default_rate))
    bit_rate = body.get("bit_rate", fmt.default_bit_rate)
    return encoding, container, rate, None if bit_rate is None else int(bit_rate)


def aura_audio(body: dict[str, Any]) -> tuple[bytes, str]:
    """(audio bytes, Content-Type) of an already-validated Aura input."""
    encoding, container, rate, bit_rate = aura_output(body)
    muxer, codec, content_type = _AURA_OUTPUTS[(encoding, container)]
    pcm = speech_pcm(body["text"].split(), rate)
    # No ID3 tag: the MP3 starts with its first frame (MeloTTS's starts with a tag).
    options = {"id3v2_version": "0"} if muxer == "mp3" else None
    return encode(pcm, rate, muxer, codec, bit_rate=bit_rate, container_options=options), content_type
