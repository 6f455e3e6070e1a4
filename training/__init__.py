"""Training recipes that produce the arena's compared models.

Subcommands (``python -m training --help``): ``prepare-smollm2``, ``instructions`` (Magpie synthetic
instructions), ``train`` (corpus + instructions mixed, full or LoRA), ``register`` (add the result to the
arena's ServedModel registry). See docs/training.md.
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Relative paths inside recipes are resolved against the repository root, whatever the current directory.
REPO_ROOT = PACKAGE_DIR.parent
RECIPES_DIR = PACKAGE_DIR / "recipes"
