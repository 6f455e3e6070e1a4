"""The exports load in the ML tools researchers use: Hugging Face datasets and TRL's DPO data path."""
from __future__ import annotations

import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from tests.arena.factories import data_entry, jsonl_rows, run_export


def test_hf_folder_loads_with_a_card_and_a_verified_manifest(arena_data, tmp_path):
    from datasets import load_from_disk

    folder = tmp_path / "ebaluatoia-hf"
    call_command("export_votes", format="ebaluatoia", file_type="hf", output=str(folder), stdout=io.StringIO())
    dataset = load_from_disk(str(folder))
    assert dataset.to_list() == jsonl_rows(data_entry(run_export(format="ebaluatoia", file_type="jsonl")[0]))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"], "the manifest lists the dataset's files"
    for name, info in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-sa-4.0\n")
    for text in ("4 votes", "3 participants", "2026-03-01", "Gemma-Eus, Latxa-8B, Llama-Eus", "\"include_flagged\": false"):
        assert text in card, text


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from tests.support.tiny_models import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"), vocab_size=512)


def test_dpo_export_is_ready_for_trl_dpo_trainer(arena_data, tmp_path, tokenizer):
    from datasets import load_from_disk
    from trl.data_utils import is_conversational, maybe_apply_chat_template
    from trl.trainer.dpo_trainer import DPOTrainer

    folder = tmp_path / "dpo-hf"
    call_command("export_votes", format="dpo", dimension="all", file_type="hf", output=str(folder), stdout=io.StringIO())
    dataset = load_from_disk(str(folder))
    assert len(dataset) == 7
    row = dataset[0]
    assert is_conversational(row)
    rendered = maybe_apply_chat_template(row, tokenizer)
    assert rendered["prompt"].endswith("<|im_start|>assistant\n") and rendered["chosen"] and rendered["rejected"]
    # TRL's own dataset preparation, as DPOTrainer runs it before training (no model needed).
    args = SimpleNamespace(dataset_num_proc=None, max_length=1024, truncation_mode="keep_start")
    prepared = DPOTrainer._prepare_dataset(SimpleNamespace(_tokenizer=tokenizer), dataset, tokenizer, args, "train")
    assert len(prepared) == 7
    for example in prepared:
        assert example["prompt_ids"] and example["chosen_ids"] and example["rejected_ids"]
        assert example["chosen_ids"] != example["rejected_ids"]


def test_hf_download_is_the_folder_zipped(arena_data, tmp_path):
    from datasets import load_from_disk

    files, export = run_export(format="lmsys", file_type="hf", include_flagged="on")
    assert export.download_name == "basque-arena-lmsys-overall-hf.zip"
    names = {name.split("/", 1)[1] for name in files}
    assert {"README.md", "manifest.json", "flags.jsonl", "dataset_info.json", "state.json"} <= names
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert len(load_from_disk(str(tmp_path / "basque-arena-lmsys-overall"))) == 5
