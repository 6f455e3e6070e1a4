"""The two-node shape on one machine (``deploy/two_nodes.sh``): a battle survives losing a web node.

Two nodes (each ``scripts/serve.sh`` in its own process group, own data folder and port) share one
PostgreSQL database and one redis-server behind nginx (TLS, /static/ from disk,
``deploy/nginx/arena-proxy.conf``). A volunteer logs in through the balancer, plays turn 1, and the
node that served that socket is stopped while the socket is open; the page reconnects through the
balancer, lands on the other node, resumes the battle, plays turn 2 and votes. Then the whole
demo is stopped with SIGTERM and nothing of it may be left.

Which node served the socket: each node's own log (uvicorn logs every accepted WebSocket).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid

import pytest
import websockets

from models_serving.vllm_process import free_port
from tests.deploy import support
from tests.models_serving.factories import listing_server

TOOLS = ("nginx", "openssl", "redis-server", "setsid", "curl")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS), reason=f"needs {', '.join(TOOLS)}")]
ACCEPTED = '"WebSocket /ws/battle/" [accepted]'


def test_a_battle_survives_a_web_node_stopping(tmp_path):
    timings = support.Phases()  # seconds since the start at which each phase ended
    mark = timings.mark

    db_name = f"arena_two_nodes_test_{os.getpid()}"
    marker = uuid.uuid4().hex
    lb_port, redis_port = free_port(), free_port()
    folder = tmp_path / "two-nodes"
    upstream = listing_server("echo-mendebal", "echo-ekial")
    env = support.stack_env(
        marker, TWO_NODES_DIR=str(folder), ARENA_LB_PORT=str(lb_port), ARENA_NODE1_PORT=str(free_port()),
        ARENA_NODE2_PORT=str(free_port()), ARENA_TWO_NODES_REDIS_PORT=str(redis_port),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db_name}", ARENA_WEB_WORKERS="1",
        ARENA_CELERY_CONCURRENCY="1", ARENA_STOP_TIMEOUT="30")
    for secret in ("DJANGO_SECRET_KEY", "ARENA_EXPORT_SALT"):
        env.pop(secret)  # the demo makes one of each, shared by both nodes
    demo = support.Launched(["bash", "deploy/two_nodes.sh", "up"], env, tmp_path / "two_nodes.log")
    seen: dict = {}
    try:
        demo.start()
        demo.wait_for_line("starting node 2", 240)  # node 1 has migrated the shared database
        mark("migrated")
        setup_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                     **dict(line.split("=", 1) for line in (folder / "secrets.env").read_text().split())}
        health = support.register_volunteer_and_models(
            setup_env, "miren", upstream.base_url, [("Mendebal-Proba", "echo-mendebal"), ("Ekial-Proba", "echo-ekial")])
        assert all(state == ["healthy", ""] for state in health.values()), health
        demo.wait_for_line("two_nodes: ready:", 240)
        mark("ready")
        seen = support.snapshot(marker)

        base = f"https://127.0.0.1:{lb_port}"
        static = support.wait_http(f"{base}/static/arena/battle.js", 10, "nginx", verify=False)
        assert static.status_code == 200 and "javascript" in static.headers["content-type"]
        assert static.headers["server"].startswith("nginx")  # from disk, not from a node
        # The balancer replaces a client's own X-Forwarded-For: nodes never see the forged address.
        forged = support.wait_http(f"{base}/login/", 10, "nginx", verify=False,
                                   headers={"X-Forwarded-For": "198.51.100.99", "X-Forwarded-Proto": "http"})
        assert forged.status_code == 200 and "wss://127.0.0.1" in forged.headers["content-security-policy"]

        volunteer = support.Volunteer(base, "miren", verify=False)
        volunteer.login()
        outcome = asyncio.run(failover_battle(volunteer, folder, env))
        mark("battle_failover_vote")
        assert {outcome["reveal"]["A"]["name"], outcome["reveal"]["B"]["name"]} == {"Mendebal-Proba", "Ekial-Proba"}
        for side in "AB":
            assert "Erantzuna 2: Eta orain?" in outcome["turn2"][side] and "aurrekoak=1" in outcome["turn2"][side]
        # With one node down the site keeps answering (nginx skips the node that refuses connections).
        for _ in range(4):
            assert volunteer.get("/leaderboard/").status_code == 200
        for log in folder.glob("node*.log"):
            assert "198.51.100.99" not in log.read_text(errors="replace"), log

        seen.update(support.snapshot(marker))
        code = demo.terminate(120)
        mark("stopped")
        assert code == 143, demo.tail()
        assert "two_nodes: stopped" in demo.text()
        assert support.still_alive(seen) == [], "processes of the demo left behind"
        assert support.wait_no_processes(marker, 5) == [], "processes of the demo left behind"
    finally:
        support.kill_marked(marker)
        for line in support.still_alive(seen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), 9)
        upstream.stop()
        support.drop_database(db_name)
        print(f"\ndemo log: {demo.log}\ntimings (s since start): {json.dumps(timings)}"
              f"\nnode stopped: {locals().get('outcome', {}).get('stopped_node')}")


def accepted_counts(folder) -> dict[int, int]:
    return {n: (folder / f"node{n}.log").read_text(errors="replace").count(ACCEPTED) for n in (1, 2)}


async def wait_accepted(folder, before: dict[int, int]) -> int:
    """The node whose log shows one more accepted socket than ``before``."""
    for _ in range(100):
        now = accepted_counts(folder)
        grown = [n for n in (1, 2) if now[n] > before[n]]
        if grown:
            assert len(grown) == 1, (before, now)
            return grown[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no node logged the socket: {before}")


async def failover_battle(volunteer: support.Volunteer, folder, env) -> dict:
    before = accepted_counts(folder)
    async with volunteer.socket() as ws:
        node = await wait_accepted(folder, before)
        turn1 = await support.run_turn(ws, "Kaixo! Nola zaude?")
        battle = turn1["battle"]
        assert battle and turn1["done"]["can_vote"], turn1
        # Stop the node serving this socket, as an operator (or a crash) would; the socket drops.
        stopping = await asyncio.to_thread(
            subprocess.run, ["bash", "deploy/two_nodes.sh", "stop-node", str(node)], cwd=support.ROOT, env=env,
            capture_output=True, text=True, timeout=120)
        assert stopping.returncode == 0, stopping.stdout + stopping.stderr
        with pytest.raises(websockets.ConnectionClosed):
            await support.frame(ws, 20)

    other = 2 if node == 1 else 1
    before = accepted_counts(folder)
    async with volunteer.socket() as ws:  # what battle.js does: reconnect, then resume
        assert await wait_accepted(folder, before) == other
        await ws.send(json.dumps({"type": "resume", "battle": battle}))
        resumed = await support.frame(ws)
        assert resumed["type"] == "resumed" and resumed["can_vote"] and len(resumed["turns"]) == 1, resumed
        turn2 = await support.run_turn(ws, "Eta orain?")
        assert turn2["done"]["can_vote"], turn2
    reveal = await asyncio.to_thread(volunteer.vote, battle)
    assert reveal["status"] == "voted", reveal
    return {"turn2": turn2["texts"], "reveal": reveal["reveal"], "stopped_node": node}
