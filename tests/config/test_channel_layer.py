"""The Redis channel layer keeps battle sockets open: idle ones (a receive that waits longer than
redis-py's default 5 s read timeout closed every idle socket after 5 s), and through a Redis restart."""
from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings

from config.channel_layer import ResilientRedisChannelLayer

from config.settings.base import redis_channel_layer

pytestmark = [pytest.mark.slow, pytest.mark.faults]


async def test_a_receive_can_wait_longer_than_five_seconds(own_redis):
    layer = ResilientRedisChannelLayer(**redis_channel_layer(own_redis.url)["CONFIG"])
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


@pytest.mark.django_db(transaction=True)
async def test_a_battle_socket_survives_a_redis_restart(own_redis):
    from channels.db import database_sync_to_async

    from models_serving.vllm_process import free_port
    from tests.arena.conftest import collect_turn, connect, make_participant, register_model
    from tests.support.fake_openai import FakeOpenAIServer

    upstream = FakeOpenAIServer(free_port()).start()
    try:
        with override_settings(CHANNEL_LAYERS={"default": redis_channel_layer(own_redis.url)}):
            await database_sync_to_async(register_model)("Alfa", "echo-alfa", upstream.base_url)
            await database_sync_to_async(register_model)("Beta", "echo-beta", upstream.base_url)
            participant = await database_sync_to_async(make_participant)()
            communicator, connected, _ = await connect(participant.user)
            assert connected
            own_redis.kill()
            await asyncio.sleep(1.5)  # the socket's channel-layer receive meets the outage
            await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
            assert (await collect_turn(communicator, []))["can_vote"] is True  # streams need no Redis
            own_redis.restart()
            await communicator.send_json_to({"type": "prompt", "text": "Berriz"})
            assert (await collect_turn(communicator, []))["can_vote"] is True
            await communicator.disconnect()
    finally:
        upstream.stop()
