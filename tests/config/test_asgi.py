"""The ASGI entry point's lifespan: at the server's stop, the pooled upstream clients are closed."""
from __future__ import annotations

import asyncio

from models_serving import client
from models_serving.client import Endpoint


async def test_the_servers_shutdown_closes_the_upstream_connection_pools():
    from config.asgi import application

    pooled = client._client(Endpoint("http://127.0.0.1:9/v1", "a"), 5.0)
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 10)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert pooled.is_closed
    assert client._client(Endpoint("http://127.0.0.1:9/v1", "a"), 5.0) is not pooled  # a fresh one if needed
    await client.close_clients()
