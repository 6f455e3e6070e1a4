"""Vote ingest benchmark: votes stored per second on PostgreSQL, sustained (issue #17: >= 500/s).

Battles are prepared READY in the database (a prompt and both answers each, as a finished turn leaves
them), so the window measures the vote path only, from ``--clients`` logged-in volunteers in a closed
loop (one vote in flight each), against the production-like stack of ``load_bench.Stack``: uvicorn with
``--web-workers`` processes, PostgreSQL, its own Redis, and a Celery worker + beat running the quality
checks and the leaderboard refreshes the votes trigger. ``--via``:

- ``socket`` (the page's way, the default): each volunteer holds one battle socket (``/ws/battle/``)
  and sends ``vote`` frames; the server stores them by group commit (arena/vote_batching.py) and
  answers each with ``voted`` and the reveal.
- ``http`` (the page's fallback): ``POST /battle/<id>/vote/`` (CSRF as the page sends it).

Reports votes acknowledged per second (a reveal received) in the window and per 5-s slice (is it
sustained?), vote rows in the database, latency, errors, whether every acknowledged vote is stored
(VOTES LOST must be 0), and whether Celery kept up: votes still unchecked at the end of the window and
after ``--settle`` s, leaderboard refreshes run. CPU of the web workers, Celery, Redis, PostgreSQL and
the driver, apart, and the load average.

  python bench/vote_ingest.py --duration 60 --clients 64 --web-workers 2 [--via http]
Run on a quiet machine; figures go into docs/load.md.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import websockets
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_bench import (  # noqa: E402
    ROOT, CpuSampler, LoopProbe, Stack, drop_database, percentiles, prepare_stack, scan_log, speed_index,
)

CHOICES = ("A", "B", "tie")
OVERALL = ("A", "B", "tie", "both_bad")


def prepare(clients: int, battles_each: int) -> list[tuple[str, list[str]]]:
    """``clients`` volunteers with a session each and ``battles_each`` READY battles: (cookie, battle ids)."""
    from django.db import transaction
    from django.test import Client

    from arena.models import Battle, Message
    from models_serving.models import ServedModel
    from tests.arena.conftest import make_participant

    model_a, model_b = ServedModel.objects.order_by("pk")[:2]
    out = []
    for index in range(clients):
        participant = make_participant(f"voter{index:04d}")
        client = Client()
        client.force_login(participant.user)
        with transaction.atomic():
            battles = Battle.objects.bulk_create([Battle(
                participant=participant, model_a=model_a, model_b=model_b, status=Battle.Status.READY,
                snapshot_a=model_a.sampling_snapshot(), snapshot_b=model_b.sampling_snapshot())
                for _ in range(battles_each)])
            Message.objects.bulk_create([Message(battle=battle, turn=0, role=role, side=side, content=text)
                                         for battle in battles for role, side, text in (
                                             ("user", "", "Zein da Euskal Herriko mendirik altuena?"),
                                             ("assistant", "A", "Aneto da, Pirinioetan."),
                                             ("assistant", "B", "Euskal Autonomia Erkidegoan, Gorbeia."))])
        out.append((client.cookies["sessionid"].value, [str(battle.pk) for battle in battles]))
    return out


def choices(n: int) -> dict:
    return {"content": CHOICES[n % 3], "language": CHOICES[(n // 3) % 3], "overall": OVERALL[n % 4]}


def acked(stats: dict, battle: str, sent: float) -> None:
    if stats["measuring"]:
        stats["acked"].append((time.monotonic(), battle))
        stats["latency_ms"].append((time.monotonic() - sent) * 1000)


async def http_voter(stack: Stack, session: str, battles: list[str], stats: dict, stop_at: float, seed: int) -> None:
    token = secrets.token_hex(16)  # an unmasked 32-character CSRF secret: cookie and header agree
    async with httpx.AsyncClient(base_url=stack.base, cookies={"sessionid": session, "csrftoken": token},
                                 headers={"X-CSRFToken": token}, timeout=30) as http:
        for n, battle in enumerate(battles, start=seed):
            if time.monotonic() >= stop_at:
                return
            sent = time.monotonic()
            try:
                response = await http.post(f"/battle/{battle}/vote/", data=choices(n))
            except httpx.HTTPError as exc:
                stats["errors"][f"exc:{type(exc).__name__}"] += 1
                continue
            if response.status_code == 200 and "reveal" in response.json():
                acked(stats, battle, sent)
            else:
                stats["errors"][f"http_{response.status_code}:{response.text[:60]}"] += 1
        stats["errors"]["ran_out_of_battles"] += 1


async def socket_voter(stack: Stack, session: str, battles: list[str], stats: dict, stop_at: float, seed: int) -> None:
    """One battle socket, as the page holds it; vote frames one after the other."""
    async with ws_connect(f"ws://127.0.0.1:{stack.web_port}/ws/battle/", origin=stack.base,
                          additional_headers={"Cookie": f"sessionid={session}"}, max_size=None, compression=None,
                          open_timeout=60, ping_interval=None, close_timeout=2) as socket:
        for request, battle in enumerate(battles, start=1):
            if time.monotonic() >= stop_at:
                return
            sent = time.monotonic()
            await socket.send(orjson.dumps({"type": "vote", "battle": battle, "request": request,
                                            **choices(seed + request)}).decode())
            try:
                frame = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed) as exc:
                stats["errors"][f"exc:{type(exc).__name__}"] += 1
                return  # the answer may still come: this socket's later frames would be misread
            if frame.get("type") == "voted" and frame.get("request") == request and "reveal" in frame:
                acked(stats, battle, sent)
            else:
                stats["errors"][f"ws_{frame.get('code')}:{str(frame.get('message'))[:60]}"] += 1
        stats["errors"]["ran_out_of_battles"] += 1


async def drive(stack: Stack, args, prepared, sampler: CpuSampler) -> dict:
    stats = {"acked": [], "latency_ms": [], "errors": collections.Counter(), "measuring": False}
    probe = LoopProbe()
    probe_task = asyncio.create_task(probe.run())
    stop_at = time.monotonic() + args.warmup + args.duration
    voter = socket_voter if args.via == "socket" else http_voter
    tasks = [asyncio.create_task(voter(stack, session, battles, stats, stop_at, index * 7919))
             for index, (session, battles) in enumerate(prepared)]
    await asyncio.sleep(args.warmup)
    await asyncio.to_thread(sampler.mark_start)
    stats["measuring"] = probe.active = True
    t0 = time.monotonic()

    sampling = asyncio.create_task(sampler.sample_every_second())
    await asyncio.sleep(args.duration)
    stats["measuring"] = probe.active = False
    window = time.monotonic() - t0
    sampling.cancel()
    await asyncio.to_thread(sampler.mark_end)
    await asyncio.gather(*tasks, return_exceptions=True)
    probe_task.cancel()
    return {"stats": stats, "t0": t0, "window": window, "driver_loop_lag_ms": percentiles(probe.samples, (50, 99))}


def unchecked(acked: list[str]) -> int:
    from arena.models import Vote

    return Vote.objects.filter(battle_id__in=acked, checked_at__isnull=True).count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64, help="concurrent volunteers voting")
    parser.add_argument("--battles-each", type=int, default=700, help="READY battles prepared per volunteer")
    parser.add_argument("--via", choices=("socket", "http"), default="socket",
                        help="vote frames on the battle socket (the page's way) or POST /battle/<id>/vote/")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds Celery may catch up after the window")
    args = parser.parse_args()
    run_args = argparse.Namespace(**vars(args), models=2, tokens_per_s=50.0, answer_tokens=16, upstream_ttft_ms=10.0,
                                  health_interval=30.0, celery_pool="threads", ws="websockets-sansio")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "var" / "bench" / f"votes-{stamp}"
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    stack = Stack(run_args, run_dir)
    stack.env["ARENA_LEADERBOARD_BOOTSTRAP_ROUNDS"] = "100"  # refreshes as a campaign would run them, cheaper
    cpu_speed_ms = speed_index()
    try:
        prepare_stack(stack)
        from django.db import connections

        from arena.frames import websocket_max_size
        from arena.models import Vote
        started = time.monotonic()
        prepared = prepare(args.clients, args.battles_each)
        prepare_s = time.monotonic() - started
        connections.close_all()
        stack.start_web(websocket_max_size())
        stack.start_celery()
        sampler = CpuSampler(stack)
        sampler.sample()
        outcome = asyncio.run(drive(stack, run_args, prepared, sampler))
        stats, window = outcome["stats"], outcome["window"]
        acked = [battle for _t, battle in stats["acked"]]
        stored = Vote.objects.filter(battle_id__in=acked).count()
        unchecked_end = unchecked(acked)
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline and unchecked(acked):
            time.sleep(1)
        unchecked_settled = unchecked(acked)
        connections.close_all()
    finally:
        orphans = stack.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
            drop_database()
    slices = collections.Counter(int((t - outcome["t0"]) // 5) for t, _b in stats["acked"])
    per_slice = [slices.get(i, 0) / 5 for i in range(int(window // 5))]
    usage = sampler.report(window)
    celery_log = scan_log(run_dir / "celery.log")
    report = {
        "config": vars(args), "prepare_s": round(prepare_s, 1), "window_s": round(window, 1),
        "votes_per_s": round(len(acked) / window, 1), "min_5s_slice_per_s": min(per_slice) if per_slice else 0,
        "per_5s_slice_per_s": per_slice, "speed_index_ms": cpu_speed_ms,
        "acknowledged": len(acked), "stored": stored, "VOTES_LOST": len(acked) - stored,
        "latency_ms": percentiles(stats["latency_ms"]), "errors": dict(stats["errors"]),
        "quality_checks": {"unchecked_at_window_end": unchecked_end, f"unchecked_after_{args.settle:g}s": unchecked_settled},
        "celery_tasks": {k: v for k, v in celery_log.items() if isinstance(v, dict)},
        **usage, "driver_loop_lag_ms": outcome["driver_loop_lag_ms"], "orphans": orphans,
        "logs": str(run_dir.relative_to(ROOT)),
    }
    (run_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if report["VOTES_LOST"] or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
