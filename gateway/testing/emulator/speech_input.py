"""The input schemas of the speech models (recognition and synthesis), and Aura's output formats.

Sources, one public model page each:
- https://developers.cloudflare.com/workers-ai/models/whisper/ and /whisper-tiny-en/: a raw audio
  body, or {"audio": [uint8…]}.
- https://developers.cloudflare.com/workers-ai/models/whisper-large-v3-turbo/: {"audio": base64,
  "task", "language", "vad_filter", "initial_prompt", "prefix", "beam_size", …}.
- https://developers.cloudflare.com/workers-ai/models/melotts/: {"prompt", "lang"}.
- https://developers.cloudflare.com/workers-ai/models/aura-1/ and /aura-2-en/: {"text", "speaker",
  "encoding", "container", "sample_rate", "bit_rate"}.

Aura's schema lists the enums but not which container, sample rate and bit rate go with which
encoding; those rules are Deepgram's (its TTS media-output settings: wav/none with linear16,
mulaw and alaw; ogg with opus; no container for mp3, flac and aac; the sample rate is fixed for
mp3, opus and aac; a bit rate only for those three). The emulator refuses the other combinations
with 400 / 5006, so a gateway that sends one fails in tests rather than in production.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .schema import (
    BadInput,
    check_boolean,
    check_bytes,
    check_enum,
    check_number,
    check_object,
    check_string,
    check_type,
)

AURA_1 = "@cf/deepgram/aura-1"
AURA_2_EN = "@cf/deepgram/aura-2-en"
AURA_1_SPEAKERS = (
    "angus",
    "asteria",
    "arcas",
    "orion",
    "orpheus",
    "athena",
    "luna",
    "zeus",
    "perseus",
    "helios",
    "hera",
    "stella",
)
AURA_2_SPEAKERS = tuple(
    """amalthea andromeda apollo arcas aries asteria athena atlas aurora callista cora cordelia delia
    draco electra harmonia helena hera hermes hyperion iris janus juno jupiter luna mars minerva
    neptune odysseus ophelia orion orpheus pandora phoebe pluto saturn selene thalia theia vesta
    zeus""".split()
)
# The first speaker of each tuple is not the default: the pages name angus and luna.
DEFAULT_SPEAKER = {AURA_1: "angus", AURA_2_EN: "luna"}
SPEAKERS = {AURA_1: AURA_1_SPEAKERS, AURA_2_EN: AURA_2_SPEAKERS}

MELOTTS_LANGUAGES = ("en", "es", "fr", "zh", "jp", "kr")


@dataclass(frozen=True)
class AuraFormat:
    """One `encoding` of Aura: which containers, sample rates and bit rates it takes (Deepgram)."""

    containers: tuple[str, ...]  # the first is the default
    sample_rates: tuple[int, ...]  # one value: fixed, `sample_rate` is refused
    default_rate: int
    bit_rates: tuple[int, int] | None = None  # inclusive range; None: `bit_rate` is refused
    default_bit_rate: int | None = None
    exact_bit_rates: tuple[int, ...] = ()  # when only some values of the range are valid


AURA_FORMATS: dict[str, AuraFormat] = {
    "mp3": AuraFormat(("none",), (22050,), 22050, (32000, 48000), 48000, exact_bit_rates=(32000, 48000)),
    "linear16": AuraFormat(("wav", "none"), (8000, 16000, 24000, 32000, 48000), 24000),
    "mulaw": AuraFormat(("wav", "none"), (8000, 16000), 8000),
    "alaw": AuraFormat(("wav", "none"), (8000, 16000), 8000),
    "flac": AuraFormat(("none",), (8000, 16000, 22050, 32000, 48000), 48000),
    "opus": AuraFormat(("ogg",), (48000,), 48000, (4000, 650000), 12000),
    "aac": AuraFormat(("none",), (22050,), 22050, (4000, 192000), 48000),
}
AURA_ENCODINGS = ("linear16", "flac", "mulaw", "alaw", "mp3", "opus", "aac")  # the page's order
AURA_CONTAINERS = ("none", "wav", "ogg")


def validate_whisper(body: Any) -> None:
    check_object(body, "", ("audio",), ("audio",))
    check_bytes(body["audio"], "/audio")


_TURBO_KEYS = (
    "audio",
    "task",
    "language",
    "vad_filter",
    "initial_prompt",
    "prefix",
    "beam_size",
    "condition_on_previous_text",
    "no_speech_threshold",
    "compression_ratio_threshold",
    "log_prob_threshold",
    "hallucination_silence_threshold",
)
_TURBO_NUMBERS = (
    "no_speech_threshold",
    "compression_ratio_threshold",
    "log_prob_threshold",
    "hallucination_silence_threshold",
)


def validate_whisper_turbo(body: Any) -> None:
    check_object(body, "", _TURBO_KEYS, ("audio",))
    check_string(body, "audio", "", min_length=1)
    try:
        base64.b64decode(body["audio"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput("'/audio' must be base64-encoded audio") from exc
    check_enum(body, "task", "", ("transcribe", "translate"))
    check_string(body, "language", "")
    check_string(body, "initial_prompt", "")
    check_string(body, "prefix", "")
    check_boolean(body, "vad_filter", "")
    check_boolean(body, "condition_on_previous_text", "")
    check_number(body, "beam_size", "", 1, 100, integer=True)
    for key in _TURBO_NUMBERS:
        if key in body:
            check_type(body[key], f"/{key}", "number")


def validate_melotts(body: Any) -> None:
    check_object(body, "", ("prompt", "lang"), ("prompt",))
    check_string(body, "prompt", "", min_length=1)
    check_string(body, "lang", "")
    check_enum(body, "lang", "", MELOTTS_LANGUAGES)


def validate_aura(model: str, body: Any) -> None:
    check_object(body, "", ("text", "speaker", "encoding", "container", "sample_rate", "bit_rate"), ("text",))
    check_string(body, "text", "", min_length=1)
    for key in ("speaker", "encoding", "container"):
        check_string(body, key, "")
    check_enum(body, "speaker", "", SPEAKERS[model])
    check_enum(body, "encoding", "", AURA_ENCODINGS)
    check_enum(body, "container", "", AURA_CONTAINERS)
    for key in ("sample_rate", "bit_rate"):
        if key in body:
            check_type(body[key], f"/{key}", "number")
    encoding = body.get("encoding", "mp3")
    fmt = AURA_FORMATS[encoding]
    if "container" in body and body["container"] not in fmt.containers:
        raise BadInput(
            f"'/container' {body['container']!r} is not available for encoding {encoding!r}: "
            f"use {' or '.join(repr(c) for c in fmt.containers)}"
        )
    if "sample_rate" in body:
        if len(fmt.sample_rates) == 1:
            raise BadInput(f"'/sample_rate' is not configurable for encoding {encoding!r}")
        if body["sample_rate"] not in fmt.sample_rates:
            rates = ", ".join(str(r) for r in fmt.sample_rates)
            raise BadInput(
                f"'/sample_rate' for encoding {encoding!r} must be one of {rates}, got {body['sample_rate']}"
            )
    if "bit_rate" in body:
        if fmt.bit_rates is None:
            raise BadInput(f"'/bit_rate' is not configurable for encoding {encoding!r}")
        lo, hi = fmt.bit_rates
        valid = body["bit_rate"] in fmt.exact_bit_rates if fmt.exact_bit_rates else lo <= body["bit_rate"] <= hi
        if not valid:
            allowed = " or ".join(str(r) for r in fmt.exact_bit_rates) or f"between {lo} and {hi}"
            raise BadInput(f"'/bit_rate' for encoding {encoding!r} must be {allowed}, got {body['bit_rate']}")
