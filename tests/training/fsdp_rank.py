"""One rank of the 2-process (gloo) loading check in test_trainer.py, started by torchrun with the environment
``accelerate launch --config_file training/accelerate/fsdp.yaml`` sets.

Loads the tiny backbone as a run does (``load_model``) and writes to ``<out>/rank<N>.json`` whether
transformers saw FSDP's cpu_ram_efficient_loading at the moment ``from_pretrained`` ran (it needs the
distributed state set up first) and the bytes of parameters this rank holds.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(backbone: str, data_dir: str, out: str) -> None:
    from transformers import AutoModelForCausalLM
    from transformers.distributed.fsdp import is_fsdp_enabled

    from tests.training.factories import tiny_recipe
    from training.trainer import load_model

    seen = {}
    original = AutoModelForCausalLM.from_pretrained.__func__

    def recording(cls, *args, **kwargs):  # observes, then loads as usual
        seen["fsdp_loading"] = is_fsdp_enabled()
        return original(cls, *args, **kwargs)

    AutoModelForCausalLM.from_pretrained = classmethod(recording)
    recipe = tiny_recipe(Path(backbone), Path(data_dir), Path(out) / "run", use_peft=False, use_cpu=True)
    recipe.model.dtype = "bfloat16"  # as the study recipes (base.yaml)
    model = load_model(recipe)
    rank = recipe.training.process_index
    report = {"rank": rank, "world_size": recipe.training.world_size, **seen,
              "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
              "float32_bytes": sum(p.numel() * 4 for p in model.parameters())}
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main(*sys.argv[1:4])
