"""The launcher on paths that start no vLLM process (the real servers: test_vllm_serving.py)."""
from __future__ import annotations

import socket

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
