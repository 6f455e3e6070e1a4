"""Launching a run from the admin, and the command line."""
import json
import subprocess
import sys

import pytest

from evaluation.cli import main
from evaluation.models import EvaluationRun


@pytest.mark.django_db
def test_admin_launches_a_run_that_finishes(admin_client, tiny_llama_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/evaluation/evaluationrun/add/", {
            "model_label": str(tiny_llama_dir), "backend": "hf", "suite": "basque",
            "tasks_text": "qnlieu_local", "num_fewshot": "0", "limit": "2",
        })
    assert response.status_code == 302, response.content.decode()[:2000]
    run = EvaluationRun.objects.get()
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.created_by.username == "admin" and run.tasks == ["qnlieu_local"]
    page = admin_client.get(f"/admin/evaluation/evaluationrun/{run.pk}/change/").content.decode()
    assert "qnlieu" in page and 'http-equiv="refresh"' not in page  # finished: no more reloading
    listing = admin_client.get("/admin/evaluation/evaluationrun/").content.decode()
    assert "100%" in listing


@pytest.mark.django_db
def test_admin_rejects_unknown_suite(admin_client):
    response = admin_client.post("/admin/evaluation/evaluationrun/add/", {
        "model_label": "x", "backend": "auto", "suite": "nope", "num_fewshot": "5",
    })
    assert response.status_code == 200 and not EvaluationRun.objects.exists()


def test_cli_runs_a_checkpoint_without_the_database(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    code = main(["run", "--model", str(tiny_llama_dir), "--tasks", "eus_trivia", "--num-fewshot", "0",
                 "--limit", "2", "--no-store", "--output", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert [(s["benchmark"], s["metric"], s["n_samples"]) for s in payload["scores"]] == [("eus_trivia", "acc", 2)]
    assert payload["lm_eval"]["n-shot"]["eus_trivia_local"] == 0
    assert "eus_trivia" in capsys.readouterr().out


def test_cli_bad_input_exits_with_a_message(tmp_path, capsys):
    assert main(["run", "--model", str(tmp_path / "missing"), "--no-store"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["run", "--model", "Some arena name", "--no-store"]) == 2
    assert "arena names need the database" in capsys.readouterr().err


def test_python_dash_m_lists_tasks_with_counts():
    result = subprocess.run([sys.executable, "-m", "evaluation", "tasks"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = dict(line.split() for line in result.stdout.splitlines())
    assert counts["eus_trivia_local"] == "1715" and counts["eus_exams_eu_local"] == "13561"
