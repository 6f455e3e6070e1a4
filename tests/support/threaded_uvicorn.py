"""An ASGI app served by uvicorn in a background thread of the test process."""
from __future__ import annotations

import threading
import time

import uvicorn


class ThreadedUvicorn:
    def __init__(self, app, port: int, **config):
        self.port = port
        config = {"host": "127.0.0.1", "port": port, "log_level": "warning", **config}
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 20.0):
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
