"""Runs stored through the Django app: real lm-eval on the tiny model in-process, all-or-nothing storage."""
import pytest

from evaluation import services
from evaluation.errors import EvaluationError
from evaluation.models import BenchmarkScore, EvaluationRun
from evaluation.runner import Outcome, Score
from evaluation.targets import Target
from models_serving.vllm_process import free_port

pytestmark = pytest.mark.django_db

SCORE = Score(task="qnlieu_local", benchmark="qnlieu", metric="acc", filter="none", value=0.5, stderr=None,
              num_fewshot=0, n_samples=2, is_group=False, task_version="1.0")


def test_in_process_run_is_stored_with_scores_versions_and_raw_json(tiny_llama_dir, small_pack):
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
    assert run.raw_results["n-samples"]["eus_trivia_local"] == {"original": 4, "effective": 3}
    assert run.raw_results["versions"]["vaxx_stance_local"] == 1.0
    # The protocol the table groups runs by, with the backend auto resolved to; the window both backends use.
    assert run.protocol == {"num_fewshot": 1, "apply_chat_template": False, "fewshot_as_multiturn": False,
                            "limit": 3, "backend": "hf"}
    assert run.protocol_key == "1-shot · first 3 items · hf"
    assert run.raw_results["evaluation"]["window"] == 2048  # the tiny Llama's max_position_embeddings
    assert run.heartbeat_at is not None


def test_stale_running_runs_are_failed_and_can_be_claimed_again(settings):
    from datetime import timedelta

    from django.utils import timezone

    from evaluation.tasks import fail_stale_runs

    stale_after = timedelta(seconds=settings.ARENA["EVALUATION_STALE_SECONDS"])
    long_ago = timezone.now() - stale_after - timedelta(minutes=1)
    killed = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING, started_at=long_ago,
                                          heartbeat_at=long_ago)
    never_beat = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING,
                                              started_at=long_ago)
    beating = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING, started_at=long_ago,
                                           heartbeat_at=timezone.now())
    done = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.SUCCEEDED, started_at=long_ago)
    assert fail_stale_runs() == 2  # the beat task
    statuses = {run.pk: run.status for run in EvaluationRun.objects.all()}
    assert statuses == {killed.pk: "failed", never_beat.pk: "failed", beating.pk: "running", done.pk: "succeeded"}
    assert "the worker stopped (no heartbeat since" in EvaluationRun.objects.get(pk=killed.pk).error
    claimed = services.execute_run(killed.pk, runner=lambda target, options, progress: Outcome(
        scores=[SCORE], results={}, n_items=2, seconds=1.0), target=Target(label="m", backend="hf"))
    assert claimed.status == EvaluationRun.Status.SUCCEEDED  # "run again" takes it


@pytest.mark.django_db(transaction=True)  # the heartbeat thread writes through its own connection
def test_a_long_lm_eval_step_keeps_beating(settings):
    """One task can run for hours without a progress call: the heartbeat thread keeps the run alive."""
    import time

    settings.ARENA = {**settings.ARENA, "EVALUATION_HEARTBEAT_SECONDS": 0.05}
    run = services.create_run(model_label="m", tasks=["qnlieu_local"])
    beats = []

    def slow_runner(target, options, progress):
        first = EvaluationRun.objects.get(pk=run.pk).heartbeat_at
        time.sleep(0.5)
        beats.append((first, EvaluationRun.objects.get(pk=run.pk).heartbeat_at))
        return Outcome(scores=[SCORE], results={}, n_items=2, seconds=1.0)

    run = services.execute_run(run, runner=slow_runner, target=Target(label="m", backend="hf"))
    assert run.status == EvaluationRun.Status.SUCCEEDED
    first, later = beats[0]
    assert later > first


def test_unreachable_endpoint_fails_clearly_and_stores_nothing(tiny_llama_dir, small_pack):
    from models_serving.models import ServedModel

    url = f"http://127.0.0.1:{free_port()}/v1"
    ServedModel.objects.create(public_name="Offline model", kind="vllm_base", checkpoint_path=str(tiny_llama_dir),
                               endpoint_url=url, served_name="offline")
    run = services.execute_run(services.create_run(model_label="Offline model", tasks=["eus_trivia_local"], limit=2))
    assert run.status == EvaluationRun.Status.FAILED
    assert f"model endpoint {url} is unreachable" in run.error
    assert run.served_model.public_name == "Offline model" and not run.scores.exists()


def test_unknown_task_and_unknown_model_fail_with_their_names(tiny_llama_dir, small_pack):
    run = services.execute_run(services.create_run(model_label=str(tiny_llama_dir), tasks=["eus_bogus_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "unknown task(s): eus_bogus_local" in run.error
    run = services.execute_run(services.create_run(model_label="No such arena model", tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "No such arena model" in run.error
    run = services.execute_run(services.create_run(model_label="/no/such/checkpoint", tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED and "/no/such/checkpoint is not a folder" in run.error
    assert not BenchmarkScore.objects.exists()


def test_missing_data_file_fails_the_run(tiny_llama_dir, broken_pack):
    broken_pack("eus_trivia.jsonl")
    run = services.execute_run(services.create_run(model_label=str(tiny_llama_dir), tasks=["eus_trivia_local"]))
    assert run.status == EvaluationRun.Status.FAILED
    assert "data file missing" in run.error and "eus_trivia.jsonl" in run.error
    assert not run.scores.exists()


def test_a_crash_in_the_runner_fails_the_run_with_its_message():
    def crash(target, options, progress):
        progress(0.5, "halfway")
        raise OSError("disk full while writing results")

    run = services.create_run(model_label="m", tasks=["qnlieu_local"])
    run = services.execute_run(run, target=Target(label="m", backend="hf", pretrained="/m"), runner=crash)
    assert run.status == EvaluationRun.Status.FAILED and run.error == "OSError: disk full while writing results"
    assert run.progress == 0.5 and run.progress_message == "failed" and run.finished_at is not None


def test_storing_is_all_or_nothing():
    """Scores are inserted before the run row is updated; a failing update takes them back out."""
    run = services.create_run(model_label="m", tasks=["qnlieu_local"])
    unstorable = Outcome(scores=[SCORE], results={"not json": object()}, n_items=2, seconds=1.0)
    with pytest.raises(TypeError):
        services.store_outcome(run, unstorable)
    run.refresh_from_db()
    assert not run.scores.exists() and run.status == EvaluationRun.Status.PENDING and run.raw_results is None
    services.store_outcome(run, Outcome(scores=[SCORE], results={"results": {}}, n_items=2, seconds=1.0))
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED and run.scores.get().value == 0.5


def test_a_finished_run_is_not_executed_twice():
    calls = []

    def evaluate(target, options, progress):
        calls.append(options.tasks)
        return Outcome(scores=[SCORE], results={"results": {}}, n_items=2, seconds=1.0)

    target = Target(label="m", backend="hf", pretrained="/m")
    run = services.execute_run(services.create_run(model_label="m", tasks=["qnlieu"]), target=target, runner=evaluate)
    assert run.status == EvaluationRun.Status.SUCCEEDED and calls == [["qnlieu_local"]]
    again = services.execute_run(run.pk, target=target, runner=evaluate)
    assert again.finished_at == run.finished_at and again.scores.count() == 1 and len(calls) == 1


def test_create_run_rejects_bad_input():
    with pytest.raises(EvaluationError, match="model"):
        services.create_run(model_label="  ")
    with pytest.raises(EvaluationError, match="unknown suite"):
        services.create_run(model_label="x", suite="nope")
    with pytest.raises(EvaluationError, match="backend"):
        services.create_run(model_label="x", backend="tpu")
    assert not EvaluationRun.objects.exists()


@pytest.mark.vllm
@pytest.mark.slow
def test_arena_model_resolves_to_its_endpoint_and_is_stored(tiny_llama_dir, vllm_tiny_server):
    from models_serving.models import ServedModel

    ServedModel.objects.create(public_name="Tiny arena model", kind="vllm_base", checkpoint_path=str(tiny_llama_dir),
                               endpoint_url=vllm_tiny_server.base_url, served_name="tiny-llama")
    run = services.create_run(model_label="Tiny arena model", tasks=["qnlieu_local"], num_fewshot=0, limit=5)
    run = services.execute_run(run)
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.target["backend"] == "endpoint" and run.target["base_url"] == vllm_tiny_server.base_url
    assert run.served_model.public_name == "Tiny arena model"
    score = run.scores.get(metric="acc")
    assert (score.benchmark, score.n_samples, score.num_fewshot) == ("qnlieu", 5, 0)
    assert run.raw_results["results"]["qnlieu_local"]["acc,none"] == score.value
