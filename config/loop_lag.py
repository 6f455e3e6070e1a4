"""Event-loop lag of an ASGI worker process, for load benchmarks (bench/load_bench.py).

With the environment variable ``ARENA_LOOP_LAG_FILE`` set, every process that serves the ASGI
application runs one tiny asyncio task: it sleeps ``INTERVAL`` seconds, and the time it woke up late
(the overshoot, in ms) is one sample of how long other work held the loop. Once a second the samples
are appended as one JSON line ``{"pid": ..., "t": <unix time>, "lag_ms": [...]}`` to
``$ARENA_LOOP_LAG_FILE.<pid>``. Unset (every real deployment), ``instrument`` returns the application
unchanged and nothing runs.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import time

ENV = "ARENA_LOOP_LAG_FILE"
INTERVAL = 0.05  # seconds the probe sleeps; lag = how much later than that it woke up
FLUSH_EVERY = 1.0  # seconds between appends to the file

_started_in: int | None = None  # the pid whose loop runs the probe (a forked child starts its own)
_task: asyncio.Task | None = None  # kept referenced: the loop holds tasks only weakly
_samples: list[float] = []


def instrument(application):
    """``application`` wrapped so that its process starts the probe on its first ASGI call (the
    server's lifespan start-up, else the first request); ``application`` itself when ``ENV`` is unset."""
    base = os.environ.get(ENV, "")
    if not base:
        return application

    async def probed(scope, receive, send):
        _ensure_started(base)
        return await application(scope, receive, send)

    return probed


def _ensure_started(base: str) -> None:
    global _started_in, _task
    pid = os.getpid()
    if _started_in == pid:
        return
    _started_in = pid
    _samples.clear()
    path = f"{base}.{pid}"
    atexit.register(_flush, path)
    _task = asyncio.get_running_loop().create_task(_probe(path))


async def _probe(path: str) -> None:
    clock = time.perf_counter  # not loop.time(): uvloop's clock moves in whole milliseconds
    last_flush = clock()
    try:
        while True:
            before = clock()
            await asyncio.sleep(INTERVAL)
            after = clock()
            _samples.append(round(max(0.0, (after - before - INTERVAL) * 1000.0), 3))
            if after - last_flush >= FLUSH_EVERY:
                last_flush = after
                _flush(path)
    except asyncio.CancelledError:
        _flush(path)
        raise


def _flush(path: str) -> None:
    if not _samples:
        return
    line = json.dumps({"pid": os.getpid(), "t": round(time.time(), 3), "lag_ms": _samples[:]})
    _samples.clear()
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        pass  # a measurement aid must never take the server down
