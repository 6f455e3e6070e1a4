"""Where the offline Basque data pack lives.

The repo may be cloned anywhere with ``shared/`` beside it (``<repo>/../shared``), so the path is
resolved from this file, never from the working directory; ``ARENA_SHARED_DATA`` overrides it.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    override = os.environ.get("ARENA_SHARED_DATA", "").strip()
    return Path(override).expanduser().resolve() if override else REPO_ROOT.parent / "shared" / "data"


def benchmarks_dir() -> Path:
    return shared_data_dir() / "basque" / "benchmarks"
