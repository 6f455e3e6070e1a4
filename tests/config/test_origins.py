"""Only the site's own origin (scheme, host and port) or a trusted one may open its WebSockets."""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def opens(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws") -> bool:
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin is not None else [])
    communicator = WebsocketCommunicator(application, "/ws/battle/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, code = await communicator.connect()
    await communicator.disconnect()
    # Anonymous sockets that pass the origin check reach the consumer, which closes them with 4401.
    return connected or code == 4401


async def test_the_sites_own_origin_reaches_the_consumer():
    assert await opens("http://127.0.0.1:8000")


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:9999",  # same host, another port
    "https://127.0.0.1:8000",  # another scheme
    "http://evil.example.com:8000",
    "null",
])
async def test_other_origins_are_refused(origin):
    assert not await opens(origin)


async def test_a_missing_origin_is_refused():
    assert not await opens(None)


async def test_a_host_outside_allowed_hosts_is_refused_even_from_itself():
    assert not await opens("http://evil.example.com:8000", host="evil.example.com:8000")


async def test_a_secure_socket_needs_the_https_origin():
    assert await opens("https://127.0.0.1:8000", scheme="wss")
    assert not await opens("http://127.0.0.1:8000", scheme="wss")


async def test_trusted_origins_are_accepted():
    with override_settings(CSRF_TRUSTED_ORIGINS=["https://arena.example.eus"]):
        assert await opens("https://arena.example.eus")
        assert not await opens("https://other.example.eus")
