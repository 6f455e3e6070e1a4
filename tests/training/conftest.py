"""Fixtures for the training package: small data files and two real (tiny) training runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.factories import BASQUE_QA, conversation, tiny_recipe, write_jsonl


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """On a shared, oversubscribed CPU, torch's 2-thread barriers made tiny steps ~40x slower (measured).

    Package scope and autouse: set before the package-scoped training runs below, undone after this package.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


@pytest.fixture(scope="package")
def data_dir(tmp_path_factory, data_pack) -> Path:
    """300 real Basque sentences from the data pack as corpus.jsonl, and a small instructions.jsonl."""
    root = tmp_path_factory.mktemp("training-data")
    with (data_pack / "basque" / "corpus" / "ud_basque_bdt.jsonl").open(encoding="utf-8") as handle:
        corpus = [json.loads(line) for line, _ in zip(handle, range(300))]
    write_jsonl(root / "corpus.jsonl", corpus)
    write_jsonl(root / "instructions.jsonl", [conversation(q, a) for q, a in BASQUE_QA * 5])
    return root


@pytest.fixture(scope="package")
def lora_run(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.trainer import run_training

    out = tmp_path_factory.mktemp("runs") / "lora"
    return run_training(tiny_recipe(tiny_llama_dir, data_dir, out, learning_rate=3e-3, num_train_epochs=3))


@pytest.fixture(scope="package")
def full_run(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.trainer import run_training

    out = tmp_path_factory.mktemp("runs") / "full"
    return run_training(tiny_recipe(tiny_llama_dir, data_dir, out, use_peft=False, learning_rate=1e-3,
                                    num_train_epochs=3))
