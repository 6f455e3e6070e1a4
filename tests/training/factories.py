"""Small data files and tiny recipes for the training tests (plain functions; fixtures are in conftest.py)."""
from __future__ import annotations

import json
from pathlib import Path

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


def recipe_data(data_dir: Path, **changes) -> dict:
    """A recipe mapping (as in a YAML file) over ``data_dir``'s corpus.jsonl and instructions.jsonl."""
    data = {
        "name": "tiny",
        "model": {"model_name_or_path": str(data_dir), "use_peft": True, "lora_target_modules": "all-linear"},
        "data": {"max_length": 64, "total_tokens": 3000, "cache_dir": str(data_dir / "datasets-cache"),
                 "sources": {"corpus": {"kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")]},
                             "eu": {"kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")]}},
                 "mix": {"corpus": 0.6, "eu": 0.4}},
        # The former recipe defaults: cosine to 0.33x and weight decay 0.1 (TrainingArguments: linear, 0).
        "training": {"learning_rate": 3e-3, "lr_scheduler_type": "cosine_with_min_lr",
                     "lr_scheduler_kwargs": {"min_lr_rate": 0.33}, "weight_decay": 0.1, "num_train_epochs": 1,
                     "per_device_train_batch_size": 4, "logging_steps": 1, "logging_first_step": True,
                     "save_steps": 1000, "data_seed": 1, "disable_tqdm": True,
                     "dataloader_pin_memory": False},  # CPU: pinning only warns
    }
    for section, values in changes.items():
        data[section] = {**data[section], **values} if isinstance(values, dict) else values
    return data


def tiny_recipe(backbone: Path, data_dir: Path, out: Path, *, use_peft: bool = True, data: dict | None = None,
                **training):
    """A validated Recipe that trains ``backbone`` for a few steps into ``out``."""
    from training.config import validate_recipe
    from training.recipe_files import recipe_from_dict

    recipe = recipe_from_dict(recipe_data(
        data_dir, model={"model_name_or_path": str(backbone), "use_peft": use_peft},
        data=data or {}, training={"output_dir": str(out), **training}))
    validate_recipe(recipe)
    return recipe
