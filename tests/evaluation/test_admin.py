"""Launching a run from the admin and watching it finish."""
import pytest

from evaluation.models import EvaluationRun

pytestmark = pytest.mark.django_db


def test_admin_launches_a_run_that_finishes(admin_client, tiny_llama_dir, small_pack,
                                           django_capture_on_commit_callbacks):
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


def test_a_running_run_page_reloads_itself_with_a_valid_progress_bar(admin_client):
    run = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING, progress=0.4)
    page = admin_client.get(f"/admin/evaluation/evaluationrun/{run.pk}/change/", HTTP_ACCEPT_LANGUAGE="eu")
    html = page.content.decode()
    assert 'http-equiv="refresh"' in html and '<progress max="1" value="0.4">' in html  # not the Basque "0,4"


def test_admin_rejects_unknown_suite_and_unknown_backend(admin_client):
    for suite, backend in (("nope", "auto"), ("basque", "tpu")):
        response = admin_client.post("/admin/evaluation/evaluationrun/add/", {
            "model_label": "x", "backend": backend, "suite": suite, "num_fewshot": "5",
        })
        assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not EvaluationRun.objects.exists()


def test_run_again_takes_a_run_whose_worker_was_killed(admin_client, settings, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    """A SIGKILLed worker left its run RUNNING forever, and "Run again" skipped it."""
    from datetime import timedelta

    from django.utils import timezone

    from evaluation import services

    queued = []
    monkeypatch.setattr(services, "launch_run", queued.append)
    old = timezone.now() - timedelta(seconds=settings.ARENA["EVALUATION_STALE_SECONDS"] + 60)
    killed = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING, started_at=old,
                                          heartbeat_at=old)
    alive = EvaluationRun.objects.create(model_label="m", status=EvaluationRun.Status.RUNNING, started_at=old,
                                         heartbeat_at=timezone.now())
    admin_client.post("/admin/evaluation/evaluationrun/", {
        "action": "rerun", "_selected_action": [killed.pk, alive.pk]})
    killed.refresh_from_db()
    alive.refresh_from_db()
    assert killed.status == EvaluationRun.Status.FAILED and "worker stopped" in killed.error
    assert alive.status == EvaluationRun.Status.RUNNING
    assert [run.pk for run in queued] == [killed.pk]
