"""The campaign progress WebSocket: read-only, open to anonymous visitors (home and battle pages).

It joins one channel-layer group and relays the frames that ``arena.services.campaigns.broadcast_progress``
sends after each batch of checked votes; it never reads the database and ignores what the browser sends.
"""
from __future__ import annotations

import logging

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from arena.campaigns import PROGRESS_GROUP

logger = logging.getLogger(__name__)


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    joined = False

    @classmethod
    async def encode_json(cls, content):
        return orjson.dumps(content).decode()

    async def connect(self):
        try:
            await self.channel_layer.group_add(PROGRESS_GROUP, self.channel_name)
            self.joined = True
        except Exception:  # the channel layer (Redis) is down: the page keeps the numbers it was served with
            logger.warning("progress socket not in its group (channel layer unavailable)", exc_info=True)
            await self.close(code=1011)
            return
        await self.accept()

    async def disconnect(self, code):
        if self.joined:
            try:
                await self.channel_layer.group_discard(PROGRESS_GROUP, self.channel_name)
            except Exception:  # the group entry expires by itself in the channel layer
                logger.warning("could not leave the progress group", exc_info=True)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Read-only: frames from the browser are ignored."""

    async def campaign_progress(self, event):
        await self.send_json(event["frame"])
