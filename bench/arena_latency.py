"""Arena streaming benchmarks (issue 2), run on demand, not in CI.

1. Time to first token: press "send" over the arena's WebSocket vs calling the vLLM endpoint
   directly (same prompt, same tiny model), median of N.
2. Concurrency: how many simultaneous battles one ASGI process relays without errors.

Usage:
  python bench/arena_latency.py ttft  [--runs 20] [--backend fake|vllm] [--think 0.3]
  python bench/arena_latency.py concurrency [--levels 1,4,16,64,128] [--backend fake|vllm]
Everything runs on 127.0.0.1 with a throw-away SQLite database (PostgreSQL with ARENA_BENCH_POSTGRES=1).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="arena-bench-"))
os.environ.update({"ARENA_DATA_DIR": str(WORK), "DJANGO_SETTINGS_MODULE": "config.settings.dev",
                   "ARENA_PROMPTS_PER_MINUTE": "100000", "HF_HUB_OFFLINE": "1"})
for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)
# ARENA_BENCH_POSTGRES=1: a throw-away PostgreSQL database (as in production) instead of SQLite.
PG_DB = "arena_latency_bench"
if os.environ.get("ARENA_BENCH_POSTGRES") == "1":
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DB}"')
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402

PROMPT = "Kaixo! Zein da Euskal Herriko mendirik altuena?"


def start_web(port: int, **env: str) -> subprocess.Popen:
    from arena.frames import websocket_max_size

    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                                "--port", str(port), "--log-level", "error", "--ws-max-size", str(websocket_max_size())],
                               cwd=ROOT, env={**os.environ, **env})
    import httpx

    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("web server did not start")


def participants(count: int) -> list[str]:
    from django.test import Client

    from tests.arena.conftest import make_participant

    cookies = []
    for index in range(count):
        participant = make_participant(f"bench{index}-{time.monotonic_ns()}")
        client = Client()
        client.force_login(participant.user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return cookies


async def arena_turn(port: int, cookie: str, prompt: str, think: float = 0.0) -> tuple[float, float, bool]:
    """(seconds to first delta, seconds to turn_done, ok) for one battle turn over the WebSocket.
    ``think``: seconds between opening the socket and sending, as a volunteer types (the page opens
    its socket when it loads)."""
    import json

    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/battle/", origin=f"http://127.0.0.1:{port}",
                                  additional_headers={"Cookie": cookie}, max_size=None) as socket:
        await asyncio.sleep(think)
        started = time.perf_counter()
        await socket.send(json.dumps({"type": "prompt", "text": prompt}))
        first = None
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=300))
            if frame["type"] == "delta" and first is None:
                first = time.perf_counter() - started
            if frame["type"] == "turn_done":
                return first or float("nan"), time.perf_counter() - started, frame["can_vote"]
            if frame["type"] == "error":
                return first or float("nan"), time.perf_counter() - started, False


async def direct_ttft(base_url: str, served_name: str, prompt: str) -> float:
    """Seconds from the request to the first text, through the arena's own client (pooled connection)."""
    from models_serving.client import Endpoint, stream_chat

    started = time.perf_counter()
    first = None
    async for _ in stream_chat(Endpoint(base_url, served_name), [{"role": "user", "content": prompt}],
                               temperature=0.9, top_p=0.95, max_tokens=32):
        if first is None:
            first = time.perf_counter() - started
    return first if first is not None else float("nan")


async def direct_pair_ttft(base_url: str, served_name: str, prompt: str) -> float:
    """Both sides requested at once, as the arena does: seconds to the first text of either."""
    firsts = await asyncio.gather(direct_ttft(base_url, served_name, prompt), direct_ttft(base_url, served_name, prompt))
    return min(firsts)


def register(base_url: str, served_name: str, max_tokens: int) -> None:
    from models_serving.models import ServedModel

    for name in ("bench-a", "bench-b"):
        ServedModel.objects.update_or_create(public_name=name, defaults={
            "served_name": served_name, "endpoint_url": base_url, "max_tokens": max_tokens})


def start_vllm():
    from models_serving.vllm_process import VLLMServer, VLLMServerSpec
    from tests.support.tiny_models import build_tiny_llama

    model_dir = build_tiny_llama(WORK / "tiny-llama")
    server = VLLMServer(VLLMServerSpec(model=str(model_dir), served_name="tiny-llama", dtype="float32",
                                       max_model_len=1024), WORK / "vllm.log").start()
    print(f"vLLM ready in {server.wait_healthy(timeout=900):.0f} s", flush=True)
    return server


def start_fake():
    from models_serving.vllm_process import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", (
        "import uvicorn; from tests.support.fake_openai import make_app; "
        f"uvicorn.run(make_app(), host='127.0.0.1', port={port}, log_level='error')")], cwd=ROOT)
    import httpx

    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process, f"http://127.0.0.1:{port}/v1"
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("fake server did not start")


def start_backend(backend: str):
    """(base URL, served name, stop) of the tiny vLLM server or the fake upstream."""
    if backend == "vllm":
        server = start_vllm()
        return server.base_url, "tiny-llama", server.stop
    process, base_url = start_fake()
    return base_url, "echo-bench", process.terminate


def bench_ttft(runs: int, backend: str, think: float) -> None:
    """Send -> first token through the arena (with and without the speculative upstream start, two
    servers) vs the same endpoint called directly, interleaved, each on a warm connection (one event
    loop for all rounds; the arena workers keep their upstream pools)."""
    from models_serving.vllm_process import free_port

    base_url, served, stop = start_backend(backend)
    ports = {"speculative": free_port(), "plain": free_port()}
    webs = []
    try:
        register(base_url, served, 32)
        cookies = participants(2 * (runs + 3))
        webs = [start_web(ports["speculative"]), start_web(ports["plain"], ARENA_SPECULATIVE_START="0")]

        async def rounds():
            out = {"speculative": [], "plain": [], "direct": [], "pair": []}
            for index in range(runs + 3):  # three warm-up rounds each
                out["direct"].append(await direct_ttft(base_url, served, PROMPT))
                out["pair"].append(await direct_pair_ttft(base_url, served, PROMPT))
                for k, mode in enumerate(("speculative", "plain")):
                    out[mode].append((await arena_turn(ports[mode], cookies[2 * index + k], PROMPT, think))[0])
            from models_serving.client import close_clients

            await close_clients()  # the direct calls' pool, before its loop ends
            return {key: values[3:] for key, values in out.items()}

        times = asyncio.run(rounds())
        ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
        print(f"{backend}: send -> first token, median of {runs} (socket open {think * 1000:.0f} ms before sending): "
              f"endpoint directly: one stream {ms['direct']:.1f} ms, both sides at once {ms['pair']:.1f} ms", flush=True)
        for mode in ("speculative", "plain"):
            print(f"  arena, {mode} start: {ms[mode]:.1f} ms (added {ms[mode] - ms['direct']:.1f} ms to one stream, "
                  f"{ms[mode] - ms['pair']:.1f} ms to both)", flush=True)
        print(f"  load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for web in webs:
            web.terminate()
        stop()


def bench_concurrency(levels: list[int], backend: str) -> None:
    from models_serving.vllm_process import free_port

    base_url, served, stop = start_backend(backend)
    port = free_port()
    web = None
    try:
        register(base_url, served, 64)
        cookies = participants(max(levels))
        web = start_web(port)
        for level in levels:
            async def run_level():
                return await asyncio.gather(*[arena_turn(port, cookies[i], PROMPT) for i in range(level)],
                                            return_exceptions=True)

            started = time.perf_counter()
            results = asyncio.run(run_level())
            wall = time.perf_counter() - started
            ok = [r for r in results if not isinstance(r, BaseException) and r[2]]
            errors = len(results) - len(ok)
            ttfts = [r[0] for r in ok]
            print(f"{level:4d} concurrent battles ({backend}): {len(ok)} ok, {errors} errors, wall {wall:.2f} s, "
                  f"median TTFT {statistics.median(ttfts) * 1000 if ttfts else float('nan'):.0f} ms", flush=True)
            if errors:
                break
    finally:
        if web:
            web.terminate()
        stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    ttft = sub.add_parser("ttft")
    ttft.add_argument("--runs", type=int, default=20)
    ttft.add_argument("--backend", choices=["fake", "vllm"], default="fake")
    ttft.add_argument("--think", type=float, default=0.3, help="seconds between opening the socket and sending")
    conc = sub.add_parser("concurrency")
    conc.add_argument("--levels", default="1,8,32,64,128,256")
    conc.add_argument("--backend", choices=["fake", "vllm"], default="fake")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if args.what == "ttft":
        bench_ttft(args.runs, args.backend, args.think)
    else:
        bench_concurrency([int(x) for x in args.levels.split(",")], args.backend)


if __name__ == "__main__":
    main()
