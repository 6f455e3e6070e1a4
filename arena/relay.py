"""Text deltas on their way to the browser, coalesced into frames.

An upstream sends one chunk per token. Relaying each as its own WebSocket frame costs a JSON encoding,
a frame and a wake-up of the browser per token and side; at 400 streams that is most of a worker's CPU
(bench/relay_scale.py). ``DeltaFrames`` sends a side's first delta at once (the first token's latency is
the product's) and after that at most one ``delta`` frame per side every ``interval`` seconds, holding
all text that arrived meanwhile. Nothing is dropped or reordered: every frame goes out under one lock
in the order its text was taken, and ``flush`` empties a side before its ``side_done``.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Send = Callable[[dict], Awaitable[None]]


class DeltaFrames:
    def __init__(self, send: Send, interval: float):
        self._send = send
        self._interval = interval
        self._pending: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()  # FIFO: frames leave in the order their text was taken
        self._wake = asyncio.Event()
        self._pump: asyncio.Task | None = None

    def add(self, side: str, text: str) -> None:
        """Queue ``text`` for ``side``; it is sent within ``interval`` (at once when the pump is idle)."""
        self._pending.setdefault(side, []).append(text)
        if self._pump is None:
            self._pump = asyncio.create_task(self._run())
        self._wake.set()

    async def flush(self, side: str) -> None:
        """Send what ``side`` has pending now (before its ``side_done``)."""
        async with self._lock:
            await self._send_side(side)

    async def close(self) -> None:
        """Stop the pump and send everything still pending (a stopped turn's last text included)."""
        async with self._lock:  # the pump is not mid-frame: cancelling it cannot lose text it took
            if self._pump is not None:
                self._pump.cancel()
                try:
                    await self._pump
                except asyncio.CancelledError:
                    pass
                self._pump = None
            for side in list(self._pending):
                await self._send_side(side)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self._lock:
                for side in list(self._pending):
                    await self._send_side(side)
            if self._interval > 0:
                await asyncio.sleep(self._interval)  # text arriving meanwhile waits for the next frame

    async def _send_side(self, side: str) -> None:
        parts = self._pending.pop(side, None)
        if parts:
            await self._send({"type": "delta", "side": side, "text": "".join(parts)})
