"""Where charrnn keeps downloads and encoded corpora."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$CHARRNN_CACHE, else charrnn/ under the XDG cache folder."""
    if os.environ.get("CHARRNN_CACHE"):
        return Path(os.environ["CHARRNN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "charrnn"
