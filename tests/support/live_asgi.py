"""The project's real ASGI application (HTTP + WebSocket) served by uvicorn in a thread, for browser tests."""
from __future__ import annotations

from tests.support.threaded_uvicorn import ThreadedUvicorn


class LiveASGIServer(ThreadedUvicorn):
    def __init__(self, port: int):
        from config.asgi import application

        super().__init__(application, port, lifespan="off", ws="websockets")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
