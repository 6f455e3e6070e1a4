"""The one command (``scripts/serve.sh``): the production-like stack on one machine, end to end.

Starts the stack with 2 ASGI workers on a free port against a PostgreSQL database and a redis-server
of the test's own, registers two external models on a fake OpenAI upstream, logs a volunteer in over
HTTP and plays a two-turn battle whose turns are served by DIFFERENT worker processes, votes, then
stops the stack with SIGTERM and checks that none of its processes is left. No GPU, no vLLM: with no
vLLM model registered, ``serve_models --watch`` has nothing to start.

Which worker serves a socket: the test looks the socket up in the kernel's table (psutil on /proc):
the stack's process that holds the server end of the TCP connection from the client's own address
is the worker that accepted it. Nothing is added to the site for the test, and it cannot be wrong
the way a log line or a header could (it is the connection itself). The workers share one listening
socket; whichever worker's accept() wins takes the connection, so the test reconnects until a socket
lands on the other worker (a few tries at most), and the battle continues there with ``resume``, as
the page does after a dropped connection.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import uuid

import pytest

from models_serving.vllm_process import free_port
from tests.deploy import support
from tests.models_serving.factories import listing_server
from tests.support.redis_server import OwnRedis

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")]


def test_serve_sh_requires_the_production_secrets(tmp_path):
    env = support.stack_env("unused", DATABASE_URL="postgres://x@127.0.0.1/x", REDIS_URL="redis://127.0.0.1:1/0")
    for missing in ("DJANGO_SECRET_KEY", "ARENA_EXPORT_SALT"):
        launched = support.Launched(["bash", "scripts/serve.sh"], {k: v for k, v in env.items() if k != missing},
                                    tmp_path / f"{missing}.log").start()
        assert launched.process.wait(timeout=60) == 2
        assert f"{missing} must be set" in launched.text()
    launched = support.Launched(["bash", "scripts/serve.sh"], {k: v for k, v in env.items() if k != "REDIS_URL"},
                                tmp_path / "redis.log").start()
    assert launched.process.wait(timeout=60) == 2
    assert "REDIS_URL must be set" in launched.text()


def test_serve_sh_stops_while_it_migrates(tmp_path):
    """SIGTERM during the preparation (here: migrate on an empty database) stops the step too."""
    db_name = f"arena_stack_test_{os.getpid()}_m"
    marker = uuid.uuid4().hex
    env = support.stack_env(marker, DATABASE_URL=support.create_database(db_name), REDIS_URL="redis://127.0.0.1:1/0",
                            ARENA_DATA_DIR=str(tmp_path / "data"), DJANGO_STATIC_ROOT=str(tmp_path / "static"))
    stack = support.Launched(["bash", "scripts/serve.sh"], env, tmp_path / "stack.log")
    try:
        stack.start()
        stack.wait_for_line("serve.sh: manage.py migrate", 60)
        time.sleep(1.0)
        assert stack.terminate(30) == 143, stack.tail()
        assert support.wait_no_processes(marker, 5) == [], "migrate left running"
    finally:
        support.kill_marked(marker)
        support.drop_database(db_name)


def test_one_command_stack_serves_a_battle_across_workers_and_stops_clean(tmp_path):
    timings = support.Phases()  # seconds since the start at which each phase ended
    mark = timings.mark

    db_name = f"arena_stack_test_{os.getpid()}"
    marker = uuid.uuid4().hex
    port = free_port()
    redis = OwnRedis().start()
    upstream = listing_server("echo-ezker", "echo-eskuin")
    env = support.stack_env(
        marker, DATABASE_URL=support.create_database(db_name), REDIS_URL=redis.url,
        ARENA_WEB_WORKERS="2", ARENA_WEB_PORT=str(port), ARENA_DATA_DIR=str(tmp_path / "data"),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"), ARENA_CELERY_CONCURRENCY="1", ARENA_STOP_TIMEOUT="30")
    stack = support.Launched(["bash", "scripts/serve.sh"], env, tmp_path / "stack.log")
    seen: dict = {}
    try:
        stack.start()
        # Register as soon as the schema exists, while the servers start.
        stack.wait_for_line("serve.sh: manage.py collectstatic", 120)
        mark("migrated")
        health = support.register_volunteer_and_models(
            env, "ane", upstream.base_url, [("Ezker-Proba", "echo-ezker"), ("Eskuin-Proba", "echo-eskuin")])
        assert health == {"Ezker-Proba": ["healthy", ""], "Eskuin-Proba": ["healthy", ""]}, health
        support.wait_http(f"http://127.0.0.1:{port}/login/", 120, "the stack", stack,
                          headers={"X-Forwarded-Proto": "https"})
        stack.wait_for_line("models.1 | watching every", 60)
        mark("ready")
        seen = support.snapshot(marker)

        volunteer = support.Volunteer(f"http://127.0.0.1:{port}", "ane")
        volunteer.login()
        mark("logged_in")
        outcome = asyncio.run(battle_across_workers(volunteer, marker, port, tmp_path))
        mark("battle_and_vote")

        assert {outcome["reveal"]["A"]["name"], outcome["reveal"]["B"]["name"]} == {"Ezker-Proba", "Eskuin-Proba"}
        # Turn 2 was answered on the other worker from the history in the database: both sides saw
        # the first prompt and their own first answer.
        for side in "AB":
            assert "Erantzuna 2: Eta zergatik?" in outcome["turn2"][side] and "aurrekoak=1" in outcome["turn2"][side]

        # The vote's quality check ran on the stack's Celery worker (queued through its Redis).
        stack.wait_for_line(re.compile(r"Task arena\.check_new_votes\[[^\]]+\] succeeded"), 30)

        seen.update(support.snapshot(marker))
        code = stack.terminate(60)
        mark("stopped")
        assert code == 143, stack.tail()  # honcho's status after SIGTERM
        log = stack.text()
        for name in ("web.1", "worker.1", "beat.1", "models.1"):
            assert f"sending SIGTERM to {name}" in log and f"{name} stopped" in log, name
        for bad in ("sending SIGKILL", "WorkerLostError", "Traceback"):
            assert bad not in log, stack.tail()
        assert "models.1 | stopped: nothing" in log
        assert support.wait_no_processes(marker, 5) == [], "processes of the stack left behind"
        assert support.still_alive(seen) == [], "processes of the stack left behind"
        assert len(seen) >= 8, seen  # honcho (+ its helpers), uvicorn + 2 workers, celery worker, beat, serve_models
    finally:
        support.kill_marked(marker)
        upstream.stop()
        redis.kill()
        support.drop_database(db_name)
        print(f"\nstack log: {stack.log}\ntimings (s since start): {json.dumps(timings)}"
              f"\nworkers (turn 1, turn 2): {locals().get('outcome', {}).get('workers')}, "
              f"sockets opened to reach the second: {locals().get('outcome', {}).get('reconnects')}")


async def battle_across_workers(volunteer: support.Volunteer, marker: str, port: int, tmp_path) -> dict:
    async with volunteer.socket() as ws:
        first = support.serving_process(marker, port, ws.local_address)
        assert first is not None, "no worker holds the first socket"
        turn1 = await support.run_turn(ws, "Kaixo! Zer moduz zaude?")
    battle = turn1["battle"]
    assert battle and turn1["done"]["can_vote"], turn1

    tries = 0
    for tries in range(1, 41):
        async with volunteer.socket() as ws:
            second = support.serving_process(marker, port, ws.local_address)
            if second is None or second.pid == first.pid:
                continue
            await ws.send(json.dumps({"type": "resume", "battle": battle}))
            resumed = await support.frame(ws)
            assert resumed["type"] == "resumed" and resumed["can_vote"] and len(resumed["turns"]) == 1, resumed
            turn2 = await support.run_turn(ws, "Eta zergatik?")
            assert turn2["battle"] is None and turn2["done"]["can_vote"], turn2
            # The ASGI server itself refuses a frame far over the arena's limit (--ws-max-size): close 1009.
            limit = int(os.environ.get("ARENA_FRAME_MAX_BYTES", "16384"))
            await ws.send("x" * (limit + 4096))
            with pytest.raises(Exception):
                await support.frame(ws, 10)
            assert ws.close_code == 1009, ws.close_code
            break
    else:
        pytest.fail(f"40 sockets in a row landed on worker {first.pid}")
    reveal = await asyncio.to_thread(volunteer.vote, battle)
    assert reveal["status"] == "voted", reveal
    return {"turn2": turn2["texts"], "reveal": reveal["reveal"], "workers": [first.pid, second.pid],
            "reconnects": tries}
