"""Fixtures for the training package: small data files and two real (tiny) training runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.helpers import BASQUE_QA, conversation, make_recipe, single_thread, write_jsonl


@pytest.fixture(autouse=True)
def one_torch_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, shared_data) -> Path:
    """A small corpus (real Basque sentences from the shared pack) and an instruction file."""
    root = tmp_path_factory.mktemp("training-data")
    corpus = []
    with (shared_data / "basque" / "corpus" / "ud_basque_bdt.jsonl").open(encoding="utf-8") as handle:
        for line, _ in zip(handle, range(300)):
            corpus.append(json.loads(line))
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(root / "instructions.jsonl", [conversation(q, a) for q, a in BASQUE_QA * 5])
    return root


@pytest.fixture(scope="session")
def lora_run(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.trainer import run_training

    recipe = make_recipe(tiny_llama_dir, data_dir, tmp_path_factory.mktemp("runs") / "lora", method="lora", learning_rate=3e-3,
                         epochs=3)
    with single_thread():
        return run_training(recipe, progress=False)


@pytest.fixture(scope="session")
def full_run(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.trainer import run_training

    recipe = make_recipe(tiny_llama_dir, data_dir, tmp_path_factory.mktemp("runs") / "full", method="full",
                         learning_rate=1e-3, epochs=3)
    with single_thread():
        return run_training(recipe, progress=False)
