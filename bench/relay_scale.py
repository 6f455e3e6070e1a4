"""Relay scale benchmark: hundreds of concurrent battles streaming through the arena (issue #17).

Each simulated browser holds one battle WebSocket and runs battles back to back: prompt -> both sides
stream from ``bench/fake_upstream.py`` (its own process, ``--tokens-per-s`` per stream) -> ``turn_done``
-> ``new_battle``. With ``--battles`` browsers, that many battles (twice as many streams) are in flight
at any moment. The stack is the production one, started by ``load_bench.Stack``: PostgreSQL (its own
database), its own redis-server, uvicorn with ``--web-workers`` processes (``--ws websockets-sansio``,
as deploy/Procfile), no Celery (a turn needs none).

Per run it reports:
- send -> first token (first ``delta`` of either side), median and p95;
- gaps between consecutive ``delta`` frames of one side (what a reader sees stall), p50/p95/p99/max;
- EVERY TOKEN DELIVERED: for every side of every turn, the text assembled from its ``delta`` frames
  equals the fake upstream's answer, character for character (``mismatched_sides`` must be 0);
- tokens relayed, frames per second, and CPU seconds of the arena (web workers + redis), the upstream,
  the driver and PostgreSQL, apart; the arena's CPU-seconds per 1,000 tokens relayed;
- the load average.

  python bench/relay_scale.py --battles 200 --tokens-per-s 30 --web-workers 2
  python bench/relay_scale.py --sweep "1:30,2:30,4:30,1:100,2:100,4:100"   # workers:tokens_per_s
Run it on a quiet machine; figures go into docs/relay.md. Needs PostgreSQL on 127.0.0.1:5432.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson
from websockets.asyncio.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_upstream import WORDS  # noqa: E402
from load_bench import (  # noqa: E402
    PROMPTS, ROOT, CpuSampler, LoopProbe, Stack, drop_database, percentiles, prepare_stack, speed_index,
)


class Tally:
    def __init__(self, expected: str):
        self.expected = expected
        self.ttft_ms: list[float] = []
        self.turn_ms: list[float] = []
        self.reset_ms: list[float] = []
        self.gaps_ms: list[float] = []
        self.turns = 0
        self.sides_checked = 0
        self.mismatched: list[dict] = []
        self.tokens = 0
        self.frames = 0
        self.errors: dict[str, int] = {}
        self.measuring = False

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def browser(port: int, cookie: str, tally: Tally, stop_at: float, rng: random.Random, ramp: float) -> None:
    await asyncio.sleep(rng.random() * ramp)  # staggered starts: battles overlap at every phase
    url, origin = f"ws://127.0.0.1:{port}/ws/battle/", f"http://127.0.0.1:{port}"
    async with ws_connect(url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None,
                          compression=None, open_timeout=60) as socket:
        while time.monotonic() < stop_at:
            measuring = tally.measuring
            sent = time.perf_counter()
            await socket.send(orjson.dumps({"type": "prompt", "text": rng.choice(PROMPTS)}).decode())
            texts = {"A": [], "B": []}
            last = {"A": None, "B": None}
            first = None
            while True:
                frame = orjson.loads(await asyncio.wait_for(socket.recv(), 120))
                kind = frame.get("type")
                if kind == "delta":
                    at = time.perf_counter()
                    side = frame["side"]
                    if first is None:
                        first = at
                    if last[side] is not None and measuring:
                        tally.gaps_ms.append((at - last[side]) * 1000)
                    last[side] = at
                    texts[side].append(frame["text"])
                    if tally.measuring:  # every frame in the window, of turns cut by its edges too
                        tally.frames += 1
                        tally.tokens += frame["text"].count(" ")  # each fake token ends with a space
                elif kind == "turn_done":
                    break
                elif kind == "error":
                    tally.error(f"error:{frame.get('code')}")
                    if "turn" not in frame and frame.get("code") != "model_failed":
                        break  # refused before the turn started
            if measuring and tally.measuring and first is not None:
                tally.turns += 1
                tally.ttft_ms.append((first - sent) * 1000)
                tally.turn_ms.append((time.perf_counter() - sent) * 1000)
                for side in "AB":
                    text = "".join(texts[side])
                    tally.sides_checked += 1
                    if text != tally.expected:
                        tally.mismatched.append({"side": side, "got": text[:80], "length": len(text)})
            asked = time.perf_counter()
            await socket.send('{"type": "new_battle"}')
            while orjson.loads(await asyncio.wait_for(socket.recv(), 60)).get("type") != "reset":
                pass
            if tally.measuring:
                tally.reset_ms.append((time.perf_counter() - asked) * 1000)


def sessions(count: int) -> list[str]:
    """Logged-in session cookies for ``count`` new volunteers (no password hashing: force_login)."""
    from django.test import Client

    from tests.arena.conftest import make_participant

    cookies = []
    for index in range(count):
        client = Client()
        client.force_login(make_participant(f"relay{index:04d}").user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return cookies


async def drive(stack: Stack, args, cookies: list[str], sampler: CpuSampler) -> dict:
    expected = "".join(WORDS[i % len(WORDS)] for i in range(args.answer_tokens))
    tally = Tally(expected)
    probe = LoopProbe()
    probe_task = asyncio.create_task(probe.run())
    turn_seconds = args.answer_tokens / args.tokens_per_s
    start = time.monotonic()
    stop_at = start + args.warmup + args.duration
    rng = random.Random(args.seed)
    tasks = [asyncio.create_task(browser(stack.web_port, cookie, tally, stop_at, random.Random(rng.random()),
                                         turn_seconds)) for cookie in cookies]
    await asyncio.sleep(args.warmup)
    await asyncio.to_thread(sampler.mark_start)
    tally.measuring = probe.active = True
    window_start = time.monotonic()

    sampling = asyncio.create_task(sampler.sample_every_second())
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    tally.measuring = probe.active = False
    window = time.monotonic() - window_start
    sampling.cancel()
    await asyncio.to_thread(sampler.mark_end)
    done, pending = await asyncio.wait(tasks, timeout=turn_seconds + 60)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            tally.error(f"browser:{type(task.exception()).__name__}")
    probe_task.cancel()
    return {"tally": tally, "window": window, "driver_loop_lag_ms": percentiles(probe.samples, (50, 99))}


def one_run(args, workers: int, tokens_per_s: float) -> dict:
    run_args = argparse.Namespace(**{**vars(args), "web_workers": workers, "tokens_per_s": tokens_per_s,
                                     "models": 2, "health_interval": 30.0, "ws": "websockets-sansio"})
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "var" / "bench" / f"relay-{stamp}-w{workers}-t{tokens_per_s:g}"
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    stack = Stack(run_args, run_dir)
    stack.env["ARENA_FRAME_INTERVAL_MS"] = str(args.frame_interval_ms)
    orphans: list[str] = []
    cpu_speed_ms = speed_index()
    try:
        prepare_stack(stack)
        from django.db import connections

        from arena.frames import websocket_max_size
        cookies = sessions(args.battles)
        connections.close_all()
        stack.start_web(websocket_max_size())
        sampler = CpuSampler(stack)
        sampler.sample()
        outcome = asyncio.run(drive(stack, run_args, cookies, sampler))
        connections.close_all()
    finally:
        orphans = stack.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
            drop_database()
    tally: Tally = outcome["tally"]
    usage = sampler.report(outcome["window"])
    cpu = usage["cpu_seconds"]
    arena_cpu = cpu.get("web", 0.0) + cpu.get("redis", 0.0)
    window = outcome["window"]
    return {
        "web_workers": workers, "tokens_per_s_per_stream": tokens_per_s, "battles": args.battles,
        "frame_interval_ms": args.frame_interval_ms, "window_s": round(window, 1),
        "turns": tally.turns, "sides_checked": tally.sides_checked, "mismatched_sides": len(tally.mismatched),
        "mismatch_examples": tally.mismatched[:3], "errors": tally.errors,
        "first_token_ms": percentiles(tally.ttft_ms),
        "turn_ms": percentiles(tally.turn_ms), "new_battle_ms": percentiles(tally.reset_ms), "frame_gap_ms": percentiles(tally.gaps_ms),
        "tokens_relayed": tally.tokens, "tokens_per_s": round(tally.tokens / window, 1),
        "frames_per_s": round(tally.frames / window, 1),
        "arena_cpu_s_per_1000_tokens": round(arena_cpu / max(1, tally.tokens) * 1000, 4),
        "cpu_seconds": cpu, "cpu_share_of_window": usage["cpu_share_of_window"],
        "load_average": usage["load_average"], "machine_cpu": usage["machine_cpu"], "speed_index_ms": cpu_speed_ms,
        "driver_loop_lag_ms": outcome["driver_loop_lag_ms"], "orphans": orphans, "logs": str(run_dir.relative_to(ROOT)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--battles", type=int, default=200, help="concurrent battles (browsers)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--tokens-per-s", type=float, default=30.0, help="per stream")
    parser.add_argument("--sweep", default="", help='runs as "workers:tokens_per_s,..." (overrides the two above)')
    parser.add_argument("--answer-tokens", type=int, default=90, help="tokens per answer (3 s at 30 tok/s)")
    parser.add_argument("--upstream-ttft-ms", type=float, default=10.0)
    parser.add_argument("--frame-interval-ms", type=int, default=40, help="ARENA_FRAME_INTERVAL_MS of the arena")
    parser.add_argument("--duration", type=float, default=30.0, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before the window opens")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _frame: (_ for _ in ()).throw(SystemExit(f"signal {signum}")))
    runs = ([tuple(float(x) for x in item.split(":")) for item in args.sweep.split(",") if item]
            if args.sweep else [(args.web_workers, args.tokens_per_s)])
    if len(runs) == 1:
        report = one_run(args, int(runs[0][0]), runs[0][1])
        reports = [report]
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:  # each run in a fresh process: its own Django, connection pool and database
        reports = []
        for workers, rate in runs:
            argv = [sys.executable, __file__, "--web-workers", str(int(workers)), "--tokens-per-s", f"{rate:g}"]
            for name in ("battles", "answer_tokens", "upstream_ttft_ms", "frame_interval_ms", "duration", "warmup", "seed"):
                argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            out = subprocess.run(argv, capture_output=True, text=True)
            report = orjson.loads(out.stdout[out.stdout.index("{"):])
            reports.append(report)
            sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
            sys.stdout.flush()
            time.sleep(3)  # let the machine settle between runs
    print(f"{'workers':>7} {'tok/s':>6} {'turns':>6} {'bad':>4} {'ttft p50':>9} {'p95':>7} {'gap p95':>8} "
          f"{'frames/s':>9} {'tokens/s':>9} {'arena CPU s/1k tok':>19} {'arena':>6} {'upstr':>6} {'driver':>6} "
          f"{'pg':>5} {'load':>5}", file=sys.stderr)
    for r in reports:
        share = r["cpu_share_of_window"]
        print(f"{r['web_workers']:>7} {r['tokens_per_s_per_stream']:>6g} {r['turns']:>6} {r['mismatched_sides']:>4} "
              f"{r['first_token_ms'].get('p50', 0):>9} {r['first_token_ms'].get('p95', 0):>7} "
              f"{r['frame_gap_ms'].get('p95', 0):>8} {r['frames_per_s']:>9} {r['tokens_per_s']:>9} "
              f"{r['arena_cpu_s_per_1000_tokens']:>19} {share.get('web', 0) + share.get('redis', 0):>6.2f} "
              f"{share.get('upstream', 0):>6.2f} {share.get('driver', 0):>6.2f} "
              f"{share.get('postgres (whole server, shared)', 0):>5.2f} {r['load_average']['mean_1m']:>5}",
              file=sys.stderr)
    return 1 if any(r["mismatched_sides"] or r["orphans"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
