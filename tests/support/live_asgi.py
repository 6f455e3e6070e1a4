"""The project's real ASGI application (HTTP + WebSocket) served by uvicorn in a thread, for browser tests."""
from __future__ import annotations

import threading
import time

import uvicorn


class LiveASGIServer:
    def __init__(self, port: int):
        from arena.asgi import application

        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off", ws="websockets"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveASGIServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live ASGI server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
