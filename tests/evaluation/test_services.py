"""Runs stored through the Django app, on the tiny model in-process (real lm-eval, no stubs)."""
import shutil

import pytest

from evaluation import services
from evaluation.models import BenchmarkScore, EvaluationRun
from evaluation.runner import run_evaluation
from models_serving.vllm_process import free_port

pytestmark = pytest.mark.django_db


def test_in_process_run_is_stored_with_scores_versions_and_raw_json(tiny_llama_dir):
    run = services.create_run(model_label=str(tiny_llama_dir), tasks=["eus_trivia_local", "vaxx_stance_local"],
                              num_fewshot=1, limit=3)
    run = services.execute_run(run)
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.finished_at is not None and run.target["backend"] == "hf"
    scores = {(s.benchmark, s.metric): s for s in run.scores.all()}
    assert set(scores) == {("eus_trivia", "acc"), ("vaxx_stance", "f1")}
    assert all(s.n_samples == 3 and s.num_fewshot == 1 for s in scores.values())
    assert scores[("eus_trivia", "acc")].stderr is not None
    assert run.n_items == 6 and run.items_per_second > 0
    assert run.versions["lm_eval"] == "0.4.13" and "torch" in run.versions
    assert run.raw_results["n-samples"]["eus_trivia_local"]["effective"] == 3
    assert run.raw_results["versions"]["vaxx_stance_local"] == 1.0


def test_celery_task_runs_the_evaluation_and_records_progress(tiny_llama_dir, django_capture_on_commit_callbacks):
    run = services.create_run(model_label=str(tiny_llama_dir), tasks=["epec_koref_bin_local"], num_fewshot=0, limit=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.launch_run(run)  # CELERY_TASK_ALWAYS_EAGER: runs here
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.progress_message == "done" and run.celery_task_id
    assert run.scores.get(metric="acc").n_samples == 2


def test_unreachable_endpoint_fails_clearly_and_stores_nothing(tiny_llama_dir):
    from models_serving.models import ServedModel

    url = f"http://127.0.0.1:{free_port()}/v1"
    ServedModel.objects.create(public_name="Offline model", kind="vllm_base", checkpoint_path=str(tiny_llama_dir),
                               endpoint_url=url, served_name="offline")
    run = services.execute_run(services.create_run(model_label="Offline model", tasks=["eus_trivia_local"], limit=2))
    assert run.status == EvaluationRun.Status.FAILED
    assert f"model endpoint {url} is unreachable" in run.error
    assert not run.scores.exists()


def test_unknown_task_and_unknown_model_fail_with_their_names(tiny_llama_dir):
    run = services.execute_run(services.create_run(model_label=str(tiny_llama_dir), tasks=["eus_bogus_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "unknown task(s): eus_bogus_local" in run.error
    run = services.execute_run(services.create_run(model_label="No such arena model", tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "No such arena model" in run.error
    run = services.execute_run(services.create_run(model_label="/no/such/checkpoint", tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "/no/such/checkpoint is not a folder" in run.error
    assert not BenchmarkScore.objects.exists()


def test_missing_data_file_fails_the_run(tiny_llama_dir, shared_data, tmp_path, monkeypatch):
    copy = tmp_path / "data" / "basque" / "benchmarks"
    shutil.copytree(shared_data / "basque" / "benchmarks", copy)
    (copy / "eus_trivia.jsonl").unlink()
    monkeypatch.setenv("ARENA_SHARED_DATA", str(tmp_path / "data"))
    run = services.execute_run(services.create_run(model_label=str(tiny_llama_dir), tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED
    assert "data file missing" in run.error and "eus_trivia.jsonl" in run.error
    assert not run.scores.exists()


def test_a_crash_after_evaluating_leaves_no_partial_results(tiny_llama_dir):
    def evaluate_then_crash(target, options, progress):
        run_evaluation(target, options, progress)  # real work, progress written to the row
        raise OSError("disk full while writing results")

    run = services.create_run(model_label=str(tiny_llama_dir), tasks=["qnlieu_local"], num_fewshot=0, limit=2)
    run = services.execute_run(run, runner=evaluate_then_crash)
    assert run.status == EvaluationRun.Status.FAILED and "disk full" in run.error
    assert not run.scores.exists() and run.raw_results is None
    assert run.progress < 1.0


def test_a_finished_run_is_not_executed_twice(tiny_llama_dir):
    run = services.execute_run(services.create_run(model_label=str(tiny_llama_dir), tasks=["qnlieu_local"],
                                                   num_fewshot=0, limit=1))
    assert run.status == EvaluationRun.Status.SUCCEEDED
    finished_at = run.finished_at
    again = services.execute_run(run.pk)
    assert again.finished_at == finished_at and again.scores.count() == 1


def test_create_run_rejects_bad_input():
    from evaluation.errors import EvaluationError

    with pytest.raises(EvaluationError, match="model"):
        services.create_run(model_label="  ")
    with pytest.raises(EvaluationError, match="unknown suite"):
        services.create_run(model_label="x", suite="nope")
    with pytest.raises(EvaluationError, match="backend"):
        services.create_run(model_label="x", backend="tpu")
