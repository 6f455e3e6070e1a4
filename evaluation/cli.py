"""``python -m evaluation``: run the Basque suite from a shell.

Works without Django for a checkpoint path; stores the run in the database when Django is
configured and the evaluation tables exist (``--store`` insists, ``--no-store`` skips it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import suites
from .errors import EvaluationError

EXIT_FAILED = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate one model")
    run.add_argument("--model", required=True, help="arena public name, or a checkpoint folder")
    run.add_argument("--suite", default="basque", choices=sorted(suites.SUITES),
                     help="basque: the lm-eval group basque_local, offline copies reading the data pack (data/); "
                          "basque-hub: upstream's basque_bench members plus an EusExams score (needs the hub); "
                          "basque-study: the study's 14 tasks (hub names when reachable, else the offline copies)")
    run.add_argument("--tasks", default="", help="comma-separated lm-eval task/group names (overrides the suite)")
    run.add_argument("--num-fewshot", type=int, default=5, help="few-shot examples (default 5, as the study)")
    run.add_argument("--limit", type=int, default=None, help="only the first N items of each task")
    run.add_argument("--backend", default="auto", choices=["auto", "endpoint", "hf"],
                     help="auto: an endpoint when there is one (the arena model's, or --base-url: the faster path), "
                          "else in-process")
    run.add_argument("--base-url", default="", help="OpenAI-compatible base URL (…/v1) serving the checkpoint")
    run.add_argument("--served-name", default="", help="model name on that endpoint")
    run.add_argument("--tokenizer", default="", help="tokenizer folder (default: the checkpoint)")
    run.add_argument("--apply-chat-template", action="store_true",
                     help="format every prompt with the chat template (both backends)")
    run.add_argument("--fewshot-as-multiturn", action="store_true",
                     help="with --apply-chat-template: few-shot examples as chat turns")
    run.add_argument("--batch-size", type=int, default=1)
    run.add_argument("--num-concurrent", type=int, default=1, help="endpoint: requests in flight (GPU servers)")
    run.add_argument("--max-length", type=int, default=None,
                     help="prompt tokens kept on both backends (default: the model's limit, capped by the endpoint's)")
    run.add_argument("--echo-only", action="store_true",
                     help="endpoint: score single-token choices by echo too (lm-eval's way; slower, same numbers)")
    run.add_argument("--include-path", default=None, help="an extra folder of lm-eval task YAMLs")
    run.add_argument("--output", type=Path, default=None, help="write scores and raw lm-eval results to this JSON file")
    store = run.add_mutually_exclusive_group()
    store.add_argument("--store", dest="store", action="store_const", const=True, default=None,
                       help="store in the database (fail if it is not configured)")
    store.add_argument("--no-store", dest="store", action="store_const", const=False)

    sub.add_parser("tasks", help="list the offline tasks and their item counts")
    return parser


def django_ready() -> tuple[bool, str]:
    """Set Django up if possible; True when the evaluation tables exist."""
    try:
        import django
        from django.db import connection

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
        django.setup()
        tables = connection.introspection.table_names()
    except Exception as exc:  # noqa: BLE001 - any failure just means "no database"
        return False, f"{type(exc).__name__}: {exc}"
    if "evaluation_evaluationrun" not in tables:
        return False, "the evaluation tables do not exist (run: python manage.py migrate)"
    return True, ""


def _print_scores(scores, items_per_second, n_items) -> None:
    for score in sorted(scores, key=lambda s: (s.benchmark, s.metric)):
        if score.task.startswith("eus_exams_eu_") and not score.is_group:
            continue  # 28 per-exam rows: in --output / the database, not on the terminal
        stderr = f" ± {score.stderr:.4f}" if score.stderr is not None else ""
        print(f"{score.benchmark:<20} {score.metric:<9} {score.value:.4f}{stderr}  (n={score.n_samples}, "
              f"{score.num_fewshot}-shot)")
    if items_per_second:
        print(f"{n_items} items, {items_per_second:.2f} items/s")


def cmd_run(args) -> int:
    from .runner import RunOptions, run_evaluation
    from .targets import resolve_target

    tasks = [t for t in args.tasks.split(",") if t.strip()] or None
    if args.suite == suites.STUDY_SUITE and not tasks:
        from .study import hub_reachable, study_tasks

        ran, missing = study_tasks(hub_reachable())
        print(f"study suite: {len(ran)} of 14 tasks; not here: {', '.join(missing)} (an average without them is "
              "not the study's)", file=sys.stderr)
    is_path = Path(args.model).expanduser().exists() or args.model.startswith(("/", "./", "../", "~"))
    store, reason = False, "--no-store"
    if args.store is not False:
        store, reason = django_ready()
        if args.store and not store:
            print(f"error: cannot store results: {reason}", file=sys.stderr)
            return EXIT_FAILED
    if not is_path and not store:
        print(f"error: {args.model!r} is not a checkpoint folder; arena names need the database ({reason})",
              file=sys.stderr)
        return EXIT_FAILED
    extra = {"batch_size": args.batch_size, "fast_choices": not args.echo_only, "include_path": args.include_path}
    protocol = {"num_fewshot": args.num_fewshot, "limit": args.limit, "apply_chat_template": args.apply_chat_template,
                "fewshot_as_multiturn": args.fewshot_as_multiturn, "max_length": args.max_length,
                "num_concurrent": args.num_concurrent}
    try:
        target = resolve_target(args.model, args.backend, base_url=args.base_url, served_name=args.served_name,
                                tokenizer=args.tokenizer)
        if store:
            from .services import create_run, execute_run

            run = create_run(model_label=args.model, backend=args.backend, suite=args.suite, tasks=tasks, **protocol)
            run = execute_run(run, target=target, options=extra)
            if run.status != run.Status.SUCCEEDED:
                raise EvaluationError(f"run {run.pk} failed: {run.error}")
            from .runner import Score

            scores = [Score(task=s.task, benchmark=s.benchmark, metric=s.metric, filter=s.filter, value=s.value,
                            stderr=s.stderr, num_fewshot=s.num_fewshot, n_samples=s.n_samples,
                            is_group=s.is_group, task_version=s.task_version) for s in run.scores.all()]
            results, ips, n_items = run.raw_results, run.items_per_second, run.n_items
            print(f"stored as evaluation run {run.pk}")
        else:
            options = RunOptions(tasks=suites.resolve_tasks(args.suite, tasks), **protocol, **extra)
            outcome = run_evaluation(target, options,
                                     progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr, flush=True))
            scores, results = outcome.scores, outcome.results
            ips, n_items = outcome.items_per_second, outcome.n_items
            print("not stored: " + reason, file=sys.stderr)
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_scores(scores, ips, n_items)
    facts = (results or {}).get("evaluation") or {}
    if facts.get("window"):
        cut = (facts.get("requests") or {}).get("truncated")
        print(f"protocol: {facts.get('protocol')}; window {facts['window']} tokens"
              + (f", {cut} request(s) cut" if cut else ""))
    if args.output:
        payload = {"model": args.model, "target": target.as_dict(), "items_per_second": ips, "n_items": n_items,
                   "scores": [vars(s) for s in scores], "lm_eval": results}
        args.output.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return 0


def cmd_tasks(_args) -> int:
    try:
        counts = suites.expected_item_counts()
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for name, count in sorted(counts.items()):
        print(f"{name:<45} {count:>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return {"run": cmd_run, "tasks": cmd_tasks}[args.command](args)
