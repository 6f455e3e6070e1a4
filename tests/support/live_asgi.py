"""The project's real ASGI application (HTTP + WebSocket) served by uvicorn in a thread, for browser tests."""
from __future__ import annotations

from tests.support.threaded_uvicorn import ThreadedUvicorn


class LiveASGIServer(ThreadedUvicorn):
    def __init__(self, port: int):
        from arena.frames import websocket_max_size
        from config.asgi import application

        # As every server of the arena: a WebSocket frame over the limit is refused (1009), not buffered.
        super().__init__(application, port, lifespan="off", ws="websockets", ws_max_size=websocket_max_size())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
