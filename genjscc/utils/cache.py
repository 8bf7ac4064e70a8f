"""The folder for results that are slow to recompute and safe to rebuild (mean images, calibrations).

``$GENJSCC_CACHE``, else ``$XDG_CACHE_HOME/genjscc``, else ``~/.cache/genjscc``. Whatever is
stored there is keyed by everything it depends on, so a stale file is never read back, and a
missing or unwritable folder costs time, not results. This module imports nothing of the project
(a base utility every layer may use).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$GENJSCC_CACHE``, else ``$XDG_CACHE_HOME/genjscc``, else ``~/.cache/genjscc``."""
    if os.environ.get("GENJSCC_CACHE"):
        return Path(os.environ["GENJSCC_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "genjscc"
    return Path.home() / ".cache" / "genjscc"
