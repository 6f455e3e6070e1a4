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
from training.config import Recipe, effective_global_batch, expand_paths, resolve_path
from training.manifest import TRAINING_MANIFEST, git_commit, now, sha256_file, versions, write_json


class RunError(RuntimeError):
    """A run that cannot start or continue; the message says why."""


@dataclass
class RunResult:
    output_dir: Path
    manifest: dict


def load_tokenizer(recipe: Recipe):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_backbone_ref(recipe), revision=recipe.model.model_revision)
    if recipe.backbone.chat_template_path:
        tokenizer.chat_template = resolve_path(recipe.backbone.chat_template_path).read_text(encoding="utf-8")
    if tokenizer.pad_token_id is None:
        # Padding only fills the last packed block and is never trained on; EOS is a safe filler.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _backbone_ref(recipe: Recipe) -> str:
    local = resolve_path(recipe.model.model_name_or_path)
    return str(local) if local.exists() else recipe.model.model_name_or_path


def load_model(recipe: Recipe):
    """The backbone as TRL's own scripts load it from a ModelConfig; wrapped by peft when use_peft is set.

    Called after the TrainingArguments have set up the distributed state (``args.device`` below): only then
    does ``from_pretrained`` see FSDP's cpu_ram_efficient_loading (ranks other than 0 load on the meta device
    and receive their shards) or DeepSpeed ZeRO-3's init context. Weights load in ``model.dtype`` (bfloat16 in
    the study recipes, as the study trained).
    """
    import torch
    from transformers import AutoModelForCausalLM
    from trl import get_peft_config

    _ = recipe.training.device  # initialises torch.distributed under accelerate/torchrun before loading
    settings = recipe.model
    dtype = settings.dtype if settings.dtype in ("auto", None) else getattr(torch, settings.dtype)
    model = AutoModelForCausalLM.from_pretrained(_backbone_ref(recipe), revision=settings.model_revision, dtype=dtype,
                                                 attn_implementation=settings.attn_implementation)
    # With a KV cache the model builds a plain causal mask and ignores the packed documents' position ids, so
    # documents would attend to each other (sdpa/eager). Training never uses the cache; it is restored on save.
    model.config.use_cache = False
    peft_config = get_peft_config(settings)
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
        if recipe.training.gradient_checkpointing:
            model.enable_input_require_grads()  # frozen embeddings otherwise cut the gradient path
    return model


def stop_at_end_of_turn(model, tokenizer) -> list[int]:
    """Add the chat template's end-of-turn token to the model's generation config ``eos_token_id``.

    A base backbone trained with a template that closes turns with e.g. ``<|eot_id|>`` keeps the base's
    ``eos_token_id`` (``<|end_of_text|>``); vLLM and ``generate`` stop at the generation config's ids, so without
    this the served model writes past the end of its turn. Set before training, so that every checkpoint saved
    (``generation_config.json``) carries it. Returns the ids now in the config.
    """
    from training.magpie import turn_end_markers

    _, assistant_end = turn_end_markers(tokenizer)
    ids = [tokenizer.convert_tokens_to_ids(marker) for marker in assistant_end]
    ids = [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]
    current = model.generation_config.eos_token_id
    current = [] if current is None else [current] if isinstance(current, int) else list(current)
    if tokenizer.eos_token_id is not None:
        current.append(tokenizer.eos_token_id)
    model.generation_config.eos_token_id = list(dict.fromkeys([*current, *ids]))
    return model.generation_config.eos_token_id


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
        {"source": name, "path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for name, source in recipe.data.selected_sources().items() for p in expand_paths(source.paths)
    ]


def _prepare_output_dir(output_dir: Path, *, resume: bool, overwrite: bool) -> Path | None:
    """The checkpoint to resume from; refuses to train over an earlier run unless told which way to go."""
    checkpoint = _latest_checkpoint(output_dir)
    if resume and checkpoint is None:
        raise RunError(f"--resume: no checkpoint-* folder in {output_dir}")
    if not resume and output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise RunError(f"{output_dir} is not empty; pass --resume to continue that run or --overwrite to replace it")
        shutil.rmtree(output_dir)
    return checkpoint if resume else None


def run_training(recipe: Recipe, *, resume: bool = False, overwrite: bool = False) -> RunResult:
    """Prepare data, train, save (full weights or adapter) and write the run manifest."""
    from transformers import Trainer, set_seed

    from training.data_mixing import build_training_set, packing_collator

    args = recipe.training
    output_dir = Path(args.output_dir)
    checkpoint = _prepare_output_dir(output_dir, resume=resume, overwrite=overwrite)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    tokenizer = load_tokenizer(recipe)
    if any(s.kind == "instructions" for s in recipe.data.selected_sources().values()):
        check_chat_template(tokenizer)  # before anything is trained
    set_seed(args.seed)
    data_seed = args.data_seed if args.data_seed is not None else args.seed  # the Trainer's own fallback
    # Rank 0 tokenises into the Arrow cache; the other ranks then read it.
    with args.main_process_first(desc="tokenising and packing the training data"):
        dataset, eval_dataset, mix_report = build_training_set(tokenizer, recipe.data, data_seed)
    timings["data_s"] = round(time.perf_counter() - started, 2)

    loaded = time.perf_counter()
    model = load_model(recipe)
    # An adapter is served with its backbone's generation config, which the adapter cannot change.
    stop_ids = None if recipe.model.use_peft else stop_at_end_of_turn(model, tokenizer)
    timings["model_load_s"] = round(time.perf_counter() - loaded, 2)

    # Padding-free batches hold no padding, so every token is real; "non_padding" would also drop EOS tokens where
    # the pad token is EOS (Llama 3.1 has no pad token).
    args.include_num_input_tokens_seen = "all"
    args.remove_unused_columns = False  # seq_lengths is the packing collator's, not a forward() argument
    trainer = Trainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                      data_collator=packing_collator(tokenizer), processing_class=tokenizer)
    trained = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    timings["train_s"] = round(time.perf_counter() - trained, 2)

    model.config.use_cache = True  # for generation with the saved checkpoint
    trainer.save_model(str(output_dir))  # full weights, or only the adapter for a peft model
    manifest = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
        manifest = _manifest(recipe, trainer, train_output, checkpoint, mix_report, timings)
        manifest["stop_token_ids"] = stop_ids
        write_json(output_dir / TRAINING_MANIFEST, manifest)
    return RunResult(output_dir, manifest)


def _manifest(recipe: Recipe, trainer, train_output, checkpoint: Path | None, mix_report, timings: dict) -> dict:
    state, args = trainer.state, trainer.args
    tokens_seen = int(state.num_input_tokens_seen or 0)
    tokens_trained = tokens_seen - (_tokens_at(checkpoint) if checkpoint else 0)  # by this process, for tokens/s
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    return {
        "kind": "lora" if recipe.model.use_peft else "full",
        "recipe_name": recipe.name,
        "recipe_path": recipe.path,
        "recipe": recipe.to_dict(),
        "backbone": {"path": _backbone_ref(recipe), "kind": recipe.backbone.backbone_kind},
        "data_files": _data_files(recipe),
        "mix": mix_report.to_dict(),
        "metrics": {
            "global_step": state.global_step,
            "resumed_from_step": int(checkpoint.name.split("-")[-1]) if checkpoint else 0,
            "train_loss": train_output.training_loss,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "tokens_seen": tokens_seen,
            "train_tokens_per_s": round(tokens_trained / timings["train_s"], 1) if timings["train_s"] else None,
            **{k: v for k, v in train_output.metrics.items() if isinstance(v, (int, float))},
        },
        "log_history": state.log_history,
        "timings": timings,
        "world_size": args.world_size,
        "batch": {"global_batch_size": recipe.batch.global_batch_size,
                  "per_device_train_batch_size": args.per_device_train_batch_size,
                  "gradient_accumulation_steps": args.gradient_accumulation_steps,
                  "effective_global_batch": effective_global_batch(args),
                  "tokens_per_step_at_most": effective_global_batch(args) * recipe.data.max_length},
        "device": str(args.device),
        "versions": versions(),
        "git_commit": git_commit(),
        "finished_at": now(),
        "hostname": os.uname().nodename,
    }
