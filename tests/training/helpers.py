"""Helpers shared by the training tests: data files and tiny recipes."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path


@contextlib.contextmanager
def single_thread():
    """On a shared, oversubscribed CPU, torch's 2-thread barriers made tiny steps ~40x slower (measured)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

BASQUE_QA = [
    ("Zein da Euskal Herriko mendirik altuena?", "Hiru Erregeen Mahaia da, 2.446 metro ditu."),
    ("Non dago Donostia?", "Donostia Gipuzkoan dago, itsasoaren ondoan."),
    ("Zer da euskara?", "Euskara Euskal Herriko hizkuntza da."),
    ("Nola esaten da kaixo ingelesez?", "Ingelesez hello esaten da."),
    ("Zenbat egun ditu aste batek?", "Aste batek zazpi egun ditu."),
    ("Zein koloretakoa da zerua?", "Zerua urdina da egun argietan."),
]


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def conversation(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def make_recipe(tiny_llama_dir: Path, data_dir: Path, out: Path, **training):
    from training.config import recipe_from_dict, validate_recipe

    settings = {"method": "lora", "learning_rate": 3e-3, "epochs": 1, "logging_steps": 1, "save_steps": 1000,
                "per_device_batch_size": 4, "neftune_alpha": None, "warmup_ratio": 0.0}
    settings.update(training)
    recipe = recipe_from_dict({
        "name": "tiny", "backbone": {"path": str(tiny_llama_dir)}, "output_dir": str(out),
        "data": {"max_length": 64, "total_tokens": 3000, "seed": 1, "sources": [
            {"name": "corpus", "kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")], "proportion": 0.6},
            {"name": "eu", "kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")], "proportion": 0.4},
        ]},
        "training": settings,
    })
    validate_recipe(recipe)
    return recipe
