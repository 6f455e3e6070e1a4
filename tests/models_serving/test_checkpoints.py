"""What a checkpoint folder must hold, and the LoRA rank an adapter needs."""
from __future__ import annotations

import json

import pytest

from models_serving import checkpoints
from tests.models_serving.factories import fake_adapter, fake_full_checkpoint


def test_adapter_info_and_rank(tmp_path):
    folder = fake_adapter(tmp_path / "lora", base="/bases/latxa", rank=16)
    info = checkpoints.check_adapter(str(folder))
    assert (info.base_name_or_path, info.rank) == ("/bases/latxa", 16)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "rank_pattern": {"q_proj": 64}}))
    assert checkpoints.adapter_rank(str(folder)) == 64
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": 1024}))
    with pytest.raises(checkpoints.CheckpointError, match="larger than vLLM serves"):
        checkpoints.check_adapter(str(folder))


def test_each_kind_refuses_the_other_kinds_folder(tmp_path):
    full = fake_full_checkpoint(tmp_path / "full")
    adapter = fake_adapter(tmp_path / "lora", base=str(full))
    assert checkpoints.check_full(str(full)) == full
    with pytest.raises(checkpoints.CheckpointError, match="holds a LoRA adapter"):
        checkpoints.check_full(str(adapter))
    with pytest.raises(checkpoints.CheckpointError, match="looks like full weights"):
        checkpoints.check_adapter(str(full))
    with pytest.raises(checkpoints.CheckpointError, match="absolute path"):
        checkpoints.check_full("relative/folder")
