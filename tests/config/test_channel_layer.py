"""The Redis channel layer keeps idle sockets: a receive that waits longer than redis-py's default
5 s read timeout must not fail (it closed every idle battle socket after 5 s)."""
from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from config.settings.base import redis_channel_layer

pytestmark = pytest.mark.slow


async def test_a_receive_can_wait_longer_than_five_seconds(own_redis):
    layer = RedisChannelLayer(**redis_channel_layer(own_redis.url)["CONFIG"])
    channel = await layer.new_channel()

    async def send_later():
        await asyncio.sleep(6.5)
        await layer.send(channel, {"type": "account.gone"})

    sender = asyncio.create_task(send_later())
    message = await asyncio.wait_for(layer.receive(channel), timeout=20)
    await sender
    assert message == {"type": "account.gone"}
    await layer.flush()
    await layer.close_pools()
