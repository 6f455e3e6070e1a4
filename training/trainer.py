"""One training run from one recipe: transformers Trainer (+ peft for LoRA), launched plainly or by accelerate.

The same code runs on CPU, one GPU, or many: ``accelerate launch --config_file training/accelerate/fsdp.yaml
-m training train --recipe …`` shards the model with FSDP (or DeepSpeed with deepspeed_zero3.yaml); the
Trainer reads the distributed environment accelerate sets up.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from training.chat_masks import check_chat_template
from training.config import Recipe, expand_paths, resolve_path
from training.manifest import TRAINING_MANIFEST, git_commit, now, sha256_file, versions, write_json


class RunError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


@dataclass
class RunResult:
    output_dir: Path
    manifest: dict


def output_dir_for(recipe: Recipe) -> Path:
    return resolve_path(recipe.output_dir or f"var/training/runs/{recipe.name}")


def load_tokenizer(recipe: Recipe):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(_backbone_ref(recipe)))
    if recipe.backbone.chat_template:
        tokenizer.chat_template = resolve_path(recipe.backbone.chat_template).read_text(encoding="utf-8")
    if tokenizer.pad_token_id is None:
        # Padding only fills the last packed block and is never trained on; EOS is a safe filler.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _backbone_ref(recipe: Recipe):
    local = resolve_path(recipe.backbone.path)
    return local if local.exists() else recipe.backbone.path


def _precision(recipe: Recipe) -> dict:
    import torch

    choice = recipe.training.precision
    if choice == "auto":
        choice = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def _load_model(recipe: Recipe):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
             "float16": torch.float16}[recipe.backbone.dtype]
    model = AutoModelForCausalLM.from_pretrained(str(_backbone_ref(recipe)), dtype=dtype)
    if recipe.training.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = recipe.training.lora
        model = get_peft_model(model, LoraConfig(
            task_type="CAUSAL_LM", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
        ))
        if recipe.training.gradient_checkpointing:
            model.enable_input_require_grads()  # frozen embeddings otherwise cut the gradient path
    return model


def _latest_checkpoint(output_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(found) if output_dir.is_dir() and (found := get_last_checkpoint(str(output_dir))) else None


def _tokens_at(checkpoint: Path) -> int:
    import json

    state_file = checkpoint / "trainer_state.json"
    if not state_file.is_file():
        return 0
    return int(json.loads(state_file.read_text()).get("num_input_tokens_seen") or 0)


def _data_files(recipe: Recipe) -> list[dict]:
    return [
        {"source": s.name, "path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for s in recipe.data.sources for p in expand_paths(s.paths)
    ]


def run_training(recipe: Recipe, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
                 recipe_path: str | None = None) -> RunResult:
    """Prepare data, train, save (full weights or adapter) and write the run manifest."""
    from transformers import Trainer, TrainingArguments, default_data_collator, set_seed

    from training.data_mixing import build_training_set

    timings: dict[str, float] = {}
    output_dir = output_dir_for(recipe)
    checkpoint = _latest_checkpoint(output_dir)
    if resume and checkpoint is None:
        raise RunError(f"--resume: no checkpoint-* folder in {output_dir}")
    if not resume and output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise RunError(f"{output_dir} is not empty; pass --resume to continue that run or --overwrite to replace it")
        shutil.rmtree(output_dir)

    started = time.perf_counter()
    tokenizer = load_tokenizer(recipe)
    if any(s.kind == "instructions" for s in recipe.data.sources):
        check_chat_template(tokenizer)  # before anything is trained
    set_seed(recipe.training.seed)
    dataset, mix_report = build_training_set(tokenizer, recipe.data)
    timings["data_s"] = round(time.perf_counter() - started, 2)

    loaded = time.perf_counter()
    model = _load_model(recipe)
    timings["model_load_s"] = round(time.perf_counter() - loaded, 2)

    t = recipe.training
    args = TrainingArguments(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        lr_scheduler_kwargs={"min_lr_rate": t.min_lr_ratio} if "min_lr" in t.lr_scheduler else {},
        warmup_steps=t.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=t.weight_decay,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        neftune_noise_alpha=t.neftune_alpha,
        max_grad_norm=t.max_grad_norm,
        gradient_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=recipe.data.seed,
        report_to="none",
        disable_tqdm=not progress,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        **_precision(recipe),
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator,
                      processing_class=tokenizer)
    trained = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=str(checkpoint) if resume else None)
    timings["train_s"] = round(time.perf_counter() - trained, 2)

    trainer.save_model(str(output_dir))  # full weights, or only the adapter for a peft model
    manifest = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
        state = trainer.state
        tokens_seen = int(state.num_input_tokens_seen or 0)
        resumed_from = int(checkpoint.name.split("-")[-1]) if resume and checkpoint else 0
        tokens_before = _tokens_at(checkpoint) if resume and checkpoint else 0
        manifest = {
            "kind": "lora" if t.method == "lora" else "full",
            "recipe_name": recipe.name,
            "recipe_path": recipe_path,
            "recipe": recipe.to_dict(),
            "backbone": {"path": str(_backbone_ref(recipe)), "kind": recipe.backbone.kind},
            "data_files": _data_files(recipe),
            "mix": mix_report.to_dict(),
            "metrics": {
                "global_step": state.global_step,
                "resumed_from_step": resumed_from,
                "train_loss": train_output.training_loss,
                "first_loss": next((h["loss"] for h in state.log_history if "loss" in h), None),
                "last_loss": next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None),
                "tokens_seen": tokens_seen,
                "train_tokens_per_s": round((tokens_seen - tokens_before) / timings["train_s"], 1) if timings["train_s"] else None,
                **{k: v for k, v in train_output.metrics.items() if isinstance(v, (int, float))},
            },
            "log_history": state.log_history,
            "timings": timings,
            "world_size": args.world_size,
            "device": str(args.device),
            "versions": versions(),
            "git_commit": git_commit(),
            "finished_at": now(),
            "hostname": os.uname().nodename,
        }
        write_json(output_dir / TRAINING_MANIFEST, manifest)
    return RunResult(output_dir, manifest)
