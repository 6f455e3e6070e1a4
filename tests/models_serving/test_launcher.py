"""The launcher on paths that start no vLLM process (the real servers: test_vllm_serving.py)."""
from __future__ import annotations

import socket

from django.utils import timezone

from models_serving import launcher
from models_serving.models import ModelServer, ServedModel
from tests.models_serving.factories import fake_full_checkpoint


def test_a_server_that_cannot_start_leaves_a_clear_record_and_no_process(tmp_path, db, serving_dir):
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", health="healthy",
                                      checkpoint_path=str(fake_full_checkpoint(tmp_path / "b")))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ServedModel.objects.filter(pk=base.pk).update(server_port=port)
        lines = launcher.apply_plan(wait=True).lines()
    assert lines == [f"oinarria: failed (port {port} is already in use)"]
    server = ModelServer.objects.get()
    assert server.status == "failed" and server.pid is None and "already in use" in server.last_error
    base.refresh_from_db()
    assert base.health == "unhealthy" and "could not start" in base.last_error
    assert base.served_name == "oinarria"  # filled in for the arena's endpoint_for()
    assert launcher._children == {}


def test_a_dead_server_is_recorded_as_failed_with_its_log_tail(tmp_path, db, serving_dir):
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", health="healthy",
                                      served_name="oinarria", checkpoint_path="/x")
    log = tmp_path / "oinarria.log"
    log.write_text("INFO loading\nERROR out of memory\n")
    # A pid that is no vLLM server (this test run): the server is gone, and nothing is signalled.
    record = ModelServer.objects.create(base=base, served_name="oinarria", port=9, pid=1, status="running",
                                        hostname=socket.gethostname(), log_path=str(log))
    assert launcher.refresh(record) == ModelServer.Status.FAILED
    record.refresh_from_db()
    base.refresh_from_db()
    assert record.last_error == "server process exited:\nINFO loading\nERROR out of memory"
    assert (base.health, base.last_error) == ("unhealthy", "server process exited")


def test_the_watcher_restarts_a_failing_server_with_doubling_backoff(tmp_path, db, serving_dir, settings):
    import datetime as dt

    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "RESTART_BACKOFF": 10.0, "RESTART_BACKOFF_MAX": 25.0}
    base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base",
                                      checkpoint_path=str(fake_full_checkpoint(tmp_path / "b")))
    with socket.socket() as busy:  # the port stays taken: every start fails at once, no process
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ServedModel.objects.filter(pk=base.pk).update(server_port=busy.getsockname()[1])

        def watch_round() -> list[str]:
            return [action.what for action in launcher.apply_plan(wait=False, backoff=True).actions]

        def found_dead_seconds_ago(seconds: float) -> None:
            ModelServer.objects.update(stopped_at=timezone.now() - dt.timedelta(seconds=seconds))

        assert watch_round() == ["failed"]
        assert ModelServer.objects.get().failures == 1
        assert watch_round() == ["wait"]  # within 10 s of the failure: no new attempt
        found_dead_seconds_ago(11)
        assert watch_round() == ["failed"] and ModelServer.objects.get().failures == 2
        found_dead_seconds_ago(11)
        assert watch_round() == ["wait"]  # the backoff doubled to 20 s
        found_dead_seconds_ago(21)
        assert watch_round() == ["failed"] and ModelServer.objects.get().failures == 3
        found_dead_seconds_ago(24)
        assert watch_round() == ["wait"]  # 40 s capped at 25 s
        found_dead_seconds_ago(26)
        assert watch_round() == ["failed"]
        # An operator's own run does not wait.
        assert [a.what for a in launcher.apply_plan(wait=False).actions] == ["failed"]


def test_a_server_that_answers_again_clears_its_failures(db, serving_dir):
    from tests.models_serving.factories import listing_server

    # A server recorded on another host is seen alive through its /health; this one answers and lists the model.
    server = listing_server("oinarria")
    try:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        base = ServedModel.objects.create(public_name="Oinarria", kind="vllm_base", served_name="oinarria",
                                          checkpoint_path="/x")
        record = ModelServer.objects.create(base=base, served_name="oinarria", port=port, pid=4242,
                                            status="starting", hostname="gpu-node-2", failures=3,
                                            started_at=timezone.now())
        assert launcher.refresh(record) == ModelServer.Status.RUNNING
    finally:
        server.stop()
    record.refresh_from_db()
    base.refresh_from_db()
    assert record.failures == 0 and base.health == "healthy"
