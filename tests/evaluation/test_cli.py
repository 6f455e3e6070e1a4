"""``python -m evaluation``: the Basque suite on a checkpoint, storing, bad input, the task list."""
import json
import subprocess
import sys

import pytest

from evaluation import suites
from evaluation.cli import main
from evaluation.models import EvaluationRun


def test_the_basque_suite_runs_on_a_checkpoint_without_the_database(tiny_llama_dir, small_pack, tmp_path, capsys):
    out = tmp_path / "scores.json"
    code = main(["run", "--model", str(tiny_llama_dir), "--suite", "basque", "--num-fewshot", "0", "--limit", "1",
                 "--no-store", "--output", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    headline = {(s["benchmark"], s["metric"]): s for s in payload["scores"]}
    counts = suites.expected_item_counts()
    exams = [name for name in counts if name.startswith("eus_exams_eu_") and name != suites.EXAMS_GROUP]
    for bench in suites.benchmarks():  # a score for every benchmark, on one item per task
        expected = len(exams) if bench.task == suites.EXAMS_GROUP else 1
        assert headline[(bench.name, bench.metric)]["n_samples"] == expected, bench.name
    assert payload["lm_eval"]["evaluation"]["steps"] == [b.task for b in suites.benchmarks()]
    loaded = {task: seen["original"] for task, seen in payload["lm_eval"]["n-samples"].items()}
    assert loaded == {name: n for name, n in counts.items() if name != suites.EXAMS_GROUP}  # lm-eval saw every item
    printed = capsys.readouterr()
    assert "eus_exams_eu         acc" in printed.out and "eus_exams_eu_" not in printed.out  # per-exam rows: file only
    assert "evaluating wiceu_local (8/8)" in printed.err and "not stored: --no-store" in printed.err


@pytest.mark.django_db
def test_store_keeps_the_run_in_the_database(tiny_llama_dir, small_pack, capsys):
    assert main(["run", "--model", str(tiny_llama_dir), "--tasks", "qnlieu", "--num-fewshot", "0", "--limit", "2",
                 "--store"]) == 0
    run = EvaluationRun.objects.get()
    assert run.status == EvaluationRun.Status.SUCCEEDED and run.tasks == ["qnlieu"]
    assert f"stored as evaluation run {run.pk}" in capsys.readouterr().out
    assert run.scores.get(metric="acc").n_samples == 2


def test_bad_input_exits_with_a_message(tmp_path, capsys):
    assert main(["run", "--model", str(tmp_path / "missing"), "--no-store"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["run", "--model", "Some arena name", "--no-store"]) == 2
    assert "arena names need the database" in capsys.readouterr().err


def test_python_dash_m_lists_the_offline_tasks_with_their_counts(small_pack):
    result = subprocess.run([sys.executable, "-m", "evaluation", "tasks"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert dict(line.split() for line in result.stdout.splitlines()) == {
        name: str(n) for name, n in suites.expected_item_counts().items()}


def test_python_dash_m_tasks_names_a_missing_data_file(broken_pack):
    broken_pack("basqueglue_bec.jsonl")
    result = subprocess.run([sys.executable, "-m", "evaluation", "tasks"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "basqueglue_bec.jsonl" in result.stderr
