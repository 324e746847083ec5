"""PyAV (FFmpeg) loads with the first audio request, not with the URLconf (audio/lazy_codec.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from servers import ROOT

BOOT = """
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, as a worker imports them at boot (config/wsgi.py)
print("before", "av" in sys.modules)
from audio.lazy_codec import codec
print("formats", ",".join(codec.SPEECH_FORMATS))
print("after", "av" in sys.modules)
"""


def test_the_urlconf_loads_without_pyav_and_the_first_use_loads_it() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "-c", BOOT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["before False", "formats mp3,opus,aac,flac,wav,pcm", "after True"]
