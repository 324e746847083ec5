"""POST /v1/audio/speech through the official openai Node SDK: the bytes it hands back are playable.

tests/node/speech.mjs calls `client.audio.speech.create` against the live gateway; `make test` installs
the SDK at the version tests/node/package-lock.json pins (`make node-sdk`). Only a missing `node`
skips these tests; a missing SDK install fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest
from servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "speech.mjs"
TEXT = "Hello from the Node SDK."


def run_speech(gateway_url: str, key: str, voice: str, response_format: str, out: Path) -> tuple[int, dict[str, Any]]:
    """Runs speech.mjs; its exit code and the JSON line it printed."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the official Node SDK cannot run here")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail(f"the openai npm package is not installed under {NODE_DIR}: run `make node-sdk`", pytrace=False)
    env = {**os.environ, "OPENAI_BASE_URL": f"{gateway_url}/v1", "OPENAI_API_KEY": key}
    done = subprocess.run(
        [node, str(SCRIPT), "tts-1", voice, response_format, TEXT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"speech.mjs printed nothing (exit {done.returncode}); stderr: {done.stderr[-2000:]}"
    return done.returncode, json.loads(lines[-1])


def has_magic(response_format: str, data: bytes) -> bool:
    if response_format == "mp3":  # an ID3v2 tag, or straight into an MPEG audio frame's sync word
        return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    if response_format == "wav":
        return data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    if response_format == "opus":  # an Ogg page whose first packet is the Opus identification header
        return data[:4] == b"OggS" and b"OpusHead" in data[:64]
    raise AssertionError(response_format)


def decoded_seconds(path: Path) -> float:
    """The audio PyAV (FFmpeg) decodes from the file, in seconds."""
    samples, rate = 0, 0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    assert rate, f"{path.name}: no audio frame decoded"
    return samples / rate


@pytest.mark.parametrize(
    ("response_format", "content_type"),
    [("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("opus", "audio/ogg")],
)
def test_the_node_sdk_gets_playable_audio(  # type: ignore[no-untyped-def]
    gateway_url, api_key, tmp_path: Path, response_format: str, content_type: str
) -> None:
    out = tmp_path / f"out.{response_format}"

    code, printed = run_speech(gateway_url, api_key, "alloy", response_format, out)

    assert code == 0, printed
    assert printed["content_type"].split(";")[0].strip() == content_type, printed
    data = out.read_bytes()
    assert printed["bytes"] == len(data) > 0
    assert has_magic(response_format, data), data[:64]
    assert decoded_seconds(out) >= 0.3


def test_an_unknown_voice_is_a_400_to_the_node_sdk(gateway_url, api_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.mp3"

    code, printed = run_speech(gateway_url, api_key, "no-such-voice", "mp3", out)

    assert code == 1, printed
    assert printed["error"]["status"] == 400, printed
    assert printed["error"]["message"]
    assert not out.exists()
