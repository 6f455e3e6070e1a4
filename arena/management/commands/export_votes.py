"""``manage.py export_votes``: the Researchers page's export, to a file (or a folder for ``hf``).

The output is written under a temporary name in the target's folder and renamed into place only
when complete, so a failed or interrupted export leaves no partial file.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from arena.export import Export, ExportConfigurationError, ExportForm
from arena.export.options import DIMENSIONS, FILE_TYPES, FORMATS


class Command(BaseCommand):
    help = "Export preference votes for research (same options as the Researchers page)."

    def add_arguments(self, parser):
        parser.add_argument("--format", default="ebaluatoia", help=f"one of {', '.join(FORMATS)}")
        parser.add_argument("--file-type", default="jsonl.gz", help=f"one of {', '.join(FILE_TYPES)}")
        parser.add_argument("--dimension", default="overall", help=f"one of {', '.join(DIMENSIONS)}")
        parser.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (UTC, inclusive)")
        parser.add_argument("--model", action="append", default=[], help="public model name; repeat for more")
        parser.add_argument("--models-match", default="any", help="any: a selected model on either side; "
                                                                  "both: battles between selected models")
        parser.add_argument("--basque-level", action="append", default=[], help="e.g. C1-C2; repeat for more")
        parser.add_argument("--education", action="append", default=[], help="e.g. university; repeat for more")
        parser.add_argument("--include-flagged", action="store_true", help="also export votes the quality checks flagged")
        parser.add_argument("--include-personal-data", action="store_true",
                            help="also export conversations whose prompts seemed to hold personal data")
        parser.add_argument("--campaign", default="", help="a campaign's code: only the votes cast in it")
        parser.add_argument("--output", "-o", help="zip file, or folder for --file-type hf "
                                                   "(default: the download's name in the current folder)")
        parser.add_argument("--force", action="store_true", help="replace an existing output")

    def handle(self, *args, **opts):
        form = ExportForm(data={
            "format": opts["format"], "file_type": opts["file_type"], "dimension": opts["dimension"],
            "date_from": opts["date_from"], "date_to": opts["date_to"], "models": opts["model"],
            "models_match": opts["models_match"], "basque_levels": opts["basque_level"],
            "educations": opts["education"], "include_flagged": opts["include_flagged"],
            "include_personal_data": opts["include_personal_data"], "campaign": opts["campaign"],
        })
        if not form.is_valid():
            raise CommandError("invalid options:\n" + "\n".join(
                f"  --{field.replace('_', '-')}: {' '.join(messages)}" for field, messages in form.error_dict().items()
            ))
        try:
            export = Export(form.to_options())
        except ExportConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        is_folder = export.options.file_type == "hf"
        default_name = export.options.stem if is_folder else export.download_name
        target = Path(opts["output"] or default_name).resolve()
        if target.exists() and not opts["force"]:
            raise CommandError(f"{target} exists; use --force to replace it")
        if not target.parent.is_dir():
            raise CommandError(f"the folder {target.parent} does not exist")
        started = time.monotonic()
        try:
            if is_folder:
                _write_folder(export, target)
            else:
                _write_file(export, target)
        except Exception as exc:
            raise CommandError(
                f"export failed after reading {export.stats.votes} votes ({type(exc).__name__}: {exc}); nothing was written"
            ) from exc
        self._report(export, target, time.monotonic() - started)

    def _report(self, export: Export, target: Path, seconds: float) -> None:
        manifest = export.manifest
        counts, exclusions = manifest["counts"], manifest["exclusions"]
        self.stdout.write(self.style.SUCCESS(f"wrote {target}"))
        self.stdout.write(
            f"  {counts['votes']} votes -> {counts['rows']} rows in {seconds:.1f} s "
            f"({counts['votes'] / max(seconds, 1e-9):,.0f} votes/s)"
        )
        for name, info in manifest["files"].items():
            self.stdout.write(f"  {name}: {info['bytes']} bytes, sha256 {info['sha256']}")
        self.stdout.write(
            f"  flagged votes matching the filters: {exclusions['flagged_votes_matching_filters']} "
            f"({'included' if exclusions['flagged_votes_included'] else 'left out'}) {exclusions['by_reason']}"
        )


def _write_file(export: Export, target: Path) -> None:
    handle_fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(handle_fd, "wb") as handle:
            for chunk in export.iter_zip():
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:  # also Ctrl-C: never leave the partial file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def _write_folder(export: Export, target: Path) -> None:
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
    try:
        built = work / "dataset"
        export.build_hf_folder(built)
        if target.exists():  # --force: swap the old folder out only once the new one is complete
            old = work / "replaced"
            os.replace(target, old)
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
