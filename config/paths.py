"""Where the project lives and where it keeps its data (DATA_DIR, default ./var)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """DATA_DIR resolved against the project root, created on first use."""
    directory = (BASE_DIR / os.environ.get("DATA_DIR", "var")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory
