"""Headless Chromium for the browser tests: Debian's package, launched the same way everywhere.

Playwright never downloads a browser here (no internet but the package registries); `make test`
installs Debian's chromium when it runs as root. Screenshots go to tests/artifacts/ (git-ignored)
for a person to look at after the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine's network is closed: without these Chromium keeps dialling Google's services.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        found = shutil.which("chromium")
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM} (on PATH: {found or 'none'}); install Debian's package: "
            "apt-get install -y --no-install-recommends chromium (make test does so when run as root)",
            pytrace=False,
        )
