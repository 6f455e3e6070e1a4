"""CPU cost per token of the upstream streaming client alone (issue #17), without Django or sockets to browsers.

Starts ``bench/fake_upstream.py`` in its own process, then streams ``--streams`` concurrent chat
completions of ``--tokens`` tokens each through ``models_serving.client.stream_chat`` (as the relay
reads them) and reports this process's CPU seconds (``time.process_time``) per 1,000 tokens. With
``--compare FILE`` another version of client.py (e.g. ``git show REV:models_serving/client.py >
/tmp/old_client.py``) is measured in the same run, rounds alternating: on a shared machine the least
round is the figure to compare. Each client has one unmeasured warm-up round first (imports, its
pool's connections); every stream must deliver exactly its tokens.

  python bench/upstream_client_bench.py --streams 200 --tokens 300 --compare /tmp/old_client.py
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_client(path: str | None, name: str):
    if path is None:
        from models_serving import client
        return client
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the fake upstream did not start on port {port}")


async def one_round(client, endpoint, streams: int, tokens: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``streams`` concurrent streams of ``tokens`` tokens each."""
    async def stream() -> int:
        stats = client.StreamStats()
        async for _ in client.stream_chat(endpoint, [{"role": "user", "content": "Kaixo"}], temperature=0.7,
                                          top_p=1.0, max_tokens=tokens, stats=stats):
            pass
        return stats.chunks

    gc.collect()
    cpu, wall = time.process_time(), time.monotonic()
    counts = await asyncio.gather(*(stream() for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    if counts != [tokens] * streams:
        raise SystemExit(f"streams delivered {sorted(set(counts))} tokens, not {tokens}")
    return cpu, wall


async def run(args, clients: dict, port: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in clients}
    endpoints = {label: client.Endpoint(f"http://127.0.0.1:{port}/v1", "bench-a") for label, client in clients.items()}
    for label, client in clients.items():  # warm-up: imports and each pool's connections
        await one_round(client, endpoints[label], args.streams, 2)
    for _ in range(args.rounds):
        for label, client in clients.items():
            results[label].append(await one_round(client, endpoints[label], args.streams, args.tokens))
    for client in clients.values():
        await client.close_clients()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=200, help="concurrent streams per round")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per stream")
    parser.add_argument("--tokens-per-s", type=float, default=50.0, help="the fake upstream's rate per stream")
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds per client")
    parser.add_argument("--compare", metavar="FILE", help="another client.py to measure in the same run")
    args = parser.parse_args()

    clients = {"current": load_client(None, "current")}
    if args.compare:
        clients["compare"] = load_client(args.compare, "compared_client")
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_upstream.py"), "--port", str(port),
                                 "--answer-tokens", str(args.tokens), "--tokens-per-s", str(args.tokens_per_s),
                                 "--ttft-ms", "20"])
    try:
        wait_ready(port)
        results = asyncio.run(run(args, clients, port))
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"{args.streams} streams x {args.tokens} tokens at {args.tokens_per_s:g} tokens/s each, "
          f"{args.rounds} rounds; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, rounds in results.items():  # on a shared machine the least is the steadiest figure
        per_k = [cpu / (args.streams * args.tokens / 1000) for cpu, _ in rounds]
        print(f"{label:8} {clients[label].__file__}\n         CPU s per 1,000 tokens: least {min(per_k):.4f}, "
              f"median {statistics.median(per_k):.4f} (rounds: {' '.join(f'{x:.4f}' for x in per_k)}); "
              f"wall s: {' '.join(f'{w:.1f}' for _, w in rounds)}")


if __name__ == "__main__":
    main()
