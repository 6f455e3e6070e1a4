"""Benchmark speed on one endpoint: plain lm-eval ``local-completions`` against the project's endpoint
model (evaluation/endpoint_lm.py: token ids, choices scored by prefix without echo), same server, same
tasks, same window; optionally in-process ``hf`` too. Reports items/s of each, the speed-up, the scores
side by side and the largest per-item log-likelihood difference (the goal: >= 3x items/s on the full
offline suite, per-item log-likelihoods within 1e-3). With ``--limit`` (a sample of every task) it also
projects each run onto the whole suite: the sample's seconds per item, task by task, times the suite's
items of that task (tasks differ a lot in prompt length, so the plain ratio of a sample would mislead).

    python bench/eval_speed.py --model CHECKPOINT --base-url http://127.0.0.1:8000/v1 --served-name NAME \\
        [--tasks basque_local] [--num-fewshot 5] [--limit N] [--num-concurrent 1] [--with-hf] [--json OUT]
    python bench/eval_speed.py --model CHECKPOINT --start-server ...   # starts (and stops) a vLLM server

Plain local-completions counts the context without BOS, so on a BOS-adding tokenizer (Llama 3) its
numbers are off by one token (issue 15); the comparison is meant for tokenizers without BOS (SmolLM2).
Runs in order ours, plain (, hf), each after emptying the server's prefix cache where the server allows
it (``--start-server`` starts vLLM with its dev endpoints for that). Even where it cannot be emptied the
order is fair: ours starts cold, and plain's echo requests never read vLLM's prefix cache (vLLM skips it
for prompt log-probabilities), while the blocks they write would have warmed ours had it run second.
Nothing is stored in a database.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def per_item(samples: dict) -> dict[tuple[str, int, int], float]:
    return {(task, s["doc_id"], i): resp[0] for task, rows in samples.items() for s in rows
            for i, resp in enumerate(s["filtered_resps"]) if isinstance(resp, (list, tuple))}


def headline(results: dict) -> dict[str, float]:
    return {f"{task} {key.split(',')[0]}": value for task, metrics in results.get("results", {}).items()
            for key, value in metrics.items()
            if "," in key and "_stderr" not in key and isinstance(value, (int, float))}


def run_plain(target, options, window, manager, steps) -> dict:
    """lm-eval's own ``local-completions`` (strings, echo), as it runs without this project's model."""
    import lm_eval
    from lm_eval.api.registry import get_model

    model = get_model("local-completions")(
        model=target.served_name, base_url=f"{target.base_url}/completions", tokenizer=target.tokenizer,
        tokenizer_backend="huggingface", tokenized_requests=False, max_length=window + 1,
        num_concurrent=options.num_concurrent, batch_size=options.batch_size, max_retries=2)
    samples, results, step_seconds, step_items = {}, {"results": {}}, {}, {}
    for name in steps:
        started = time.monotonic()
        out = lm_eval.simple_evaluate(model=model, tasks=[name], num_fewshot=options.num_fewshot, limit=options.limit,
                                      task_manager=manager, log_samples=True, bootstrap_iters=0)
        step_seconds[name] = time.monotonic() - started
        step_items[name] = sum(len(rows) for rows in out["samples"].values())
        samples.update(out.pop("samples"))
        results["results"].update(out["results"])
    return {"samples": samples, "results": results, "seconds": sum(step_seconds.values()),
            "step_seconds": step_seconds, "step_items": step_items}


def suite_items(steps: list[str], manager) -> dict[str, int]:
    """Items per step in the whole suite (no limit): to project a sample's per-task speeds onto it."""
    from lm_eval.tasks import get_task_dict

    def count(node) -> int:
        if isinstance(node, dict):
            return sum(count(child) for child in node.values())
        return len(node.eval_docs)

    return {name: count(get_task_dict([name], manager)) for name in steps}


def projected_seconds(run: dict, plain: dict, full: dict[str, int]) -> float:
    """The whole suite's time at this run's seconds per item, task by task (items as the sample had)."""
    return sum(run["step_seconds"][name] / plain["step_items"][name] * full[name]
               for name in full if plain["step_items"].get(name))


def reset_prefix_cache(base_url: str) -> bool:
    """Empty vLLM's prefix cache (POST /reset_prefix_cache, a dev endpoint); False where it is not offered."""
    import urllib.error
    import urllib.request

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{root}/reset_prefix_cache", method="POST"),
                                    timeout=30) as response:
            return bool(json.loads(response.read() or b"{}").get("success", True))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def run_ours(target, options) -> dict:
    from evaluation.runner import run_evaluation

    outcome = run_evaluation(target, options)
    return {"samples": outcome.samples, "results": outcome.results, "seconds": outcome.seconds,
            "step_seconds": outcome.results["evaluation"]["step_seconds"],
            "requests": outcome.results["evaluation"]["requests"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint folder (tokenizer, and weights for --with-hf)")
    parser.add_argument("--base-url", default="", help="the server's …/v1 (or --start-server)")
    parser.add_argument("--served-name", default="")
    parser.add_argument("--start-server", action="store_true", help="start a vLLM server on --model for the bench")
    parser.add_argument("--max-model-len", type=int, default=4096, help="with --start-server")
    parser.add_argument("--tasks", default="basque_local", help="comma-separated; default: the full offline suite")
    parser.add_argument("--num-fewshot", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="items per task (check runs: 2)")
    parser.add_argument("--num-concurrent", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--with-hf", action="store_true", help="also time in-process hf on the same items")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()  # the server launcher reads its defaults from the settings
    from evaluation.backends import resolve_window
    from evaluation.runner import RunOptions, plan, task_manager_for
    from evaluation.targets import check_endpoint, resolve_target

    server = None
    if args.start_server:
        from models_serving.vllm_process import VLLMServer, VLLMServerSpec

        spec = VLLMServerSpec(model=str(Path(args.model).resolve()), served_name=args.served_name or "bench",
                              dtype="float32", max_model_len=args.max_model_len)
        os.environ.setdefault("VLLM_SERVER_DEV_MODE", "1")  # for /reset_prefix_cache between the runs
        server = VLLMServer(spec, Path("/tmp") / "eval_speed_vllm.log").start()
        server.wait_healthy(timeout=900)
        args.base_url, args.served_name = server.base_url, spec.served_name
    try:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        target = resolve_target(args.model, "endpoint", base_url=args.base_url, served_name=args.served_name)
        options = RunOptions(tasks=tasks, num_fewshot=args.num_fewshot, limit=args.limit, log_samples=True,
                             num_concurrent=args.num_concurrent, batch_size=args.batch_size)
        window = resolve_window(target, options, check_endpoint(target))
        manager = task_manager_for(tasks)
        steps = plan(tasks, manager)
        print(f"tasks: {', '.join(steps)}; window {window} tokens", flush=True)
        runs, emptied = {}, []
        emptied.append(reset_prefix_cache(args.base_url))
        runs["endpoint_lm (fast path)"] = run_ours(target, options)
        print(f"ours: {runs['endpoint_lm (fast path)']['seconds']:.1f} s", flush=True)
        emptied.append(reset_prefix_cache(args.base_url))
        runs["plain local-completions"] = run_plain(target, options, window, manager, steps)
        print(f"plain: {runs['plain local-completions']['seconds']:.1f} s", flush=True)
        if args.with_hf:
            from evaluation.runner import run_evaluation

            hf = run_evaluation(resolve_target(args.model, "hf"), RunOptions(**{**vars(options), "max_length": window}))
            runs["hf in-process"] = {"samples": hf.samples, "results": hf.results, "seconds": hf.seconds,
                                     "step_seconds": hf.results["evaluation"]["step_seconds"]}
        full = suite_items(steps, manager)
    finally:
        if server is not None:
            server.stop()

    reference = per_item(runs["plain local-completions"]["samples"])
    in_process = per_item(runs["hf in-process"]["samples"]) if "hf in-process" in runs else {}
    items = sum(len(rows) for rows in runs["plain local-completions"]["samples"].values())
    plain = runs["plain local-completions"]
    report = {"tasks": steps, "num_fewshot": args.num_fewshot, "limit": args.limit, "window": window,
              "items": items, "items_per_task": plain["step_items"], "suite_items": full,
              "suite_items_total": sum(full.values()), "prefix_cache_emptied_before_each_run": all(emptied),
              "runs": {}}
    for name, run in runs.items():
        values = per_item(run["samples"])
        common = reference.keys() & values.keys()
        report["runs"][name] = {
            "seconds": round(run["seconds"], 2), "items_per_second": round(items / run["seconds"], 4),
            "speedup_vs_plain": round(plain["seconds"] / run["seconds"], 2),
            "seconds_per_task": {name: round(value, 2) for name, value in run["step_seconds"].items()},
            # The sample's per-task speeds weighted by the whole suite's items (its tasks differ in length).
            "projected_suite_hours": round(projected_seconds(run, plain, full) / 3600, 2),
            "projected_suite_speedup_vs_plain": round(
                projected_seconds(plain, plain, full) / projected_seconds(run, plain, full), 2),
            "max_abs_loglik_diff_vs_plain": max((abs(values[k] - reference[k]) for k in common), default=None),
            "compared_logliks": len(common), "scores": headline(run["results"]),
            # On a BOS-adding tokenizer plain differs from both others by about one token's log-probability.
            "max_abs_loglik_diff_vs_hf": max(
                (abs(values[k] - in_process[k]) for k in values.keys() & in_process.keys()), default=None),
            **({"requests": run["requests"]} if "requests" in run else {}),
        }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
