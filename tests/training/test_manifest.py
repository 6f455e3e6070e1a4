"""Provenance helpers: hashes, atomic JSON writes, manifests read back."""
from __future__ import annotations

import hashlib

import pytest

from training.manifest import TRAINING_MANIFEST, read_manifest, sha256_file, versions, write_json


def test_sha256_reads_in_chunks(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"kaixo" * 1000)
    assert sha256_file(path, chunk=7) == hashlib.sha256(b"kaixo" * 1000).hexdigest()


def test_manifest_round_trip_and_no_partial_file(tmp_path):
    write_json(tmp_path / "run" / TRAINING_MANIFEST, {"recipe_name": "tiny", "path": tmp_path})
    assert read_manifest(tmp_path / "run") == {"recipe_name": "tiny", "path": str(tmp_path)}
    assert [p.name for p in (tmp_path / "run").iterdir()] == [TRAINING_MANIFEST]  # the .tmp was renamed
    assert read_manifest(tmp_path) is None


def test_broken_manifest_is_reported(tmp_path):
    (tmp_path / TRAINING_MANIFEST).write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_manifest(tmp_path)


def test_versions_name_the_training_stack():
    found = versions()
    assert {"python", "torch", "transformers", "trl", "peft"} <= set(found)
