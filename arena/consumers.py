"""The battle WebSocket: one per volunteer tab.

A prompt starts one asyncio task per side that streams from that side's endpoint and relays
``{side, text}`` frames. Frames carry side letters only: a model's identity reaches the browser
solely through the vote response, after the vote is stored.
"""
from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from arena import selectors, services
from arena.models import Battle
from arena.rendering import render_markdown
from arena.vocabulary import SIDES
from models_serving import client
from models_serving.selectors import endpoint_for
from models_serving.services import mark_unhealthy

logger = logging.getLogger(__name__)


class BattleConsumer(AsyncJsonWebsocketConsumer):
    participant = None
    battle_id = None
    turn_task: asyncio.Task | None = None

    # ------------------------------------------------------------ connection

    async def connect(self):
        self.participant = await database_sync_to_async(selectors.participant_for)(self.scope.get("user"))
        if self.participant is None:
            await self.close(code=4401)  # not logged in, or no participant profile
            return
        cookie_language = self.scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
        codes = {code for code, _name in settings.LANGUAGES}
        self.language = cookie_language if cookie_language in codes else self.participant.ui_language
        await self.accept()

    async def disconnect(self, code):
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()  # cancels both upstream requests
            try:
                await self.turn_task
            except (asyncio.CancelledError, Exception):
                pass

    # ------------------------------------------------------------ frames in

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            return await self.send_error("bad_frame", _("Only text frames are accepted."))
        if len(text_data.encode("utf-8")) > settings.ARENA["FRAME_MAX_BYTES"]:
            return await self.send_error("frame_too_large", _("The message is too large."))
        try:
            content = json.loads(text_data)
        except ValueError:
            return await self.send_error("bad_frame", _("The message could not be read."))
        if not isinstance(content, dict):
            return await self.send_error("bad_frame", _("The message could not be read."))
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        handlers = {"prompt": self.on_prompt, "stop": self.on_stop, "new_battle": self.on_new_battle}
        handler = handlers.get(content.get("type"))
        if handler is None:
            return await self.send_error("unknown_type", _("Unknown message type."))
        with translation.override(self.language):
            await handler(content)

    async def on_new_battle(self, content):
        if self.is_answering():
            return await self.send_error("busy", _("Wait until both answers finish, or press stop."))
        if self.battle_id is not None:
            await database_sync_to_async(services.abandon_battle)(battle_id=self.battle_id)
        self.battle_id = None
        await self.send_json({"type": "reset"})

    async def on_stop(self, content):
        if self.is_answering():
            self.turn_task.cancel()

    async def on_prompt(self, content):
        if self.is_answering():
            return await self.send_error("busy", _("Wait until both answers finish, or press stop."))
        try:
            text = await database_sync_to_async(services.check_prompt)(
                participant=self.participant, text=content.get("text"))
            if self.battle_id is None:
                battle = await database_sync_to_async(services.start_battle)(participant=self.participant)
                self.battle_id = battle.pk
                await self.send_json({"type": "battle", "battle": str(battle.pk)})
            plan = await database_sync_to_async(services.begin_turn)(
                battle_id=self.battle_id, participant=self.participant, text=text)
        except services.ArenaError as error:
            return await self.send_error(error.code, str(error.message))
        await self.send_json({"type": "turn_start", "turn": plan.turn})
        self.turn_task = asyncio.create_task(self.run_turn(self.battle_id, plan))

    def is_answering(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    # ------------------------------------------------------------ streaming

    async def run_turn(self, battle_id, plan: services.TurnPlan):
        battle = await database_sync_to_async(
            lambda: Battle.objects.select_related("model_a", "model_b", "model_a__base_model",
                                                  "model_b__base_model").get(pk=battle_id)
        )()
        messages = {"A": plan.messages_a, "B": plan.messages_b}
        sides = {side: asyncio.create_task(self.stream_side(battle, side, plan.turn, messages[side])) for side in SIDES}
        failure = None
        cancelled = False
        try:
            pending = set(sides.values())
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        failure = task.exception()
                        for other in pending:
                            other.cancel()  # one side failed: the battle cannot be compared
        except asyncio.CancelledError:
            cancelled = True
            for task in sides.values():
                task.cancel()
        results = await asyncio.gather(*sides.values(), return_exceptions=True)
        failure = failure or next((r for r in results if isinstance(r, client.EndpointError)), None)
        with translation.override(self.language):
            status = await database_sync_to_async(services.finish_turn)(
                battle_id=battle_id, failed=failure is not None, reason=str(failure or ""),
            )
            if failure is not None:
                if failure.before_first_token:
                    message = _("One of the models is not available right now. Start a new battle to try another pair.")
                else:
                    message = _("One of the models stopped answering. This battle cannot be voted; start a new one.")
                await self.send_error("model_failed", message)
            await self.send_json({
                "type": "turn_done", "status": status, "stopped": cancelled,
                "can_vote": status == Battle.Status.READY,
            })
        if failure is not None:
            self.battle_id = None  # the next prompt starts a fresh pair

    async def stream_side(self, battle, side: str, turn: int, messages: list[dict]):
        model = battle.model_for(side)
        snapshot = battle.snapshot_for(side)
        stats = client.StreamStats()
        error = ""
        try:
            endpoint = await database_sync_to_async(endpoint_for)(model)
            async for delta in client.stream_chat(
                endpoint, messages,
                temperature=snapshot["temperature"], top_p=snapshot["top_p"], max_tokens=snapshot["max_tokens"],
                stats=stats,
                first_token_timeout=settings.ARENA["FIRST_TOKEN_TIMEOUT"],
                token_timeout=settings.ARENA["TOKEN_TIMEOUT"],
                retries=settings.ARENA["CONNECT_RETRIES"],
            ):
                await self.send_json({"type": "delta", "side": side, "text": delta})
        except client.EndpointError as exc:
            error = str(exc)
            logger.warning("battle %s side %s: endpoint %s failed: %s", battle.pk, side, model.pk, exc)
            await database_sync_to_async(mark_unhealthy)(model.pk, error)
            raise
        except Exception as exc:  # anything unexpected still ends the battle cleanly
            logger.exception("battle %s side %s: unexpected streaming error", battle.pk, side)
            error = f"{type(exc).__name__}: {exc}"
            raise client.EndpointError(error, before_first_token=stats.ttft_ms is None) from exc
        except asyncio.CancelledError:
            stats.finish_reason = stats.finish_reason or "cancelled"
            raise
        finally:
            await asyncio.shield(database_sync_to_async(services.record_answer)(
                battle_id=battle.pk, turn=turn, side=side, content=stats.text,
                finish_reason=stats.finish_reason or ("error" if error else "cancelled"), error=error,
                token_count=stats.token_count, ttft_ms=stats.ttft_ms, duration_ms=stats.duration_ms,
            ))
        await self.send_json({
            "type": "side_done", "side": side, "finish_reason": stats.finish_reason,
            "html": render_markdown(stats.text),
        })

    async def send_error(self, code: str, message: str):
        await self.send_json({"type": "error", "code": code, "message": message})
