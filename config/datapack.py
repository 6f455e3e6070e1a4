"""Where the Basque data pack lives: ``data/`` in this repository unless ``ARENA_DATA_PACK`` points elsewhere.

Plain Python (no Django) so that the training and evaluation command lines can use it too. Paths are
resolved from this file, never from the working directory.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_pack_dir() -> Path:
    override = os.environ.get("ARENA_DATA_PACK", "").strip()
    return Path(override).expanduser().resolve() if override else REPO_ROOT / "data"


def benchmarks_dir() -> Path:
    return data_pack_dir() / "basque" / "benchmarks"


def corpus_dir() -> Path:
    return data_pack_dir() / "basque" / "corpus"
