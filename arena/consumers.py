"""The battle WebSocket: one per volunteer tab.

A prompt starts one asyncio task per side that streams from that side's endpoint and relays
``{side, text}`` frames. Frames carry side letters only: a model's identity reaches the browser
solely through the vote response, after the vote is stored.

Frames in are checked before they are parsed (size, then nesting depth); anything malformed gets an
``error`` frame and changes nothing. A page whose socket dropped reconnects and sends ``resume``: the
server replies with the conversation so far (side letters and rendered answers only) and whether it
can be voted. A turn cut by a disconnect keeps what each side had streamed (``finish_reason``
"disconnected"); the battle stays votable and resumable only if both sides had started answering
that turn, otherwise it is abandoned (arena/resume.py). A ``vote`` frame stores the vote with other
sockets' votes in one transaction and is answered with the reveal (arena/vote_batching.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from arena import resume, selectors, services, upstream, vote_batching
from arena.models import Battle
from arena.frames import nesting_exceeds
from arena.relay import DeltaFrames
from arena.rendering import render_answer
from arena.vocabulary import SIDES
from config.async_db import in_db_thread
from models_serving import client
from models_serving.services import mark_unhealthy

logger = logging.getLogger(__name__)

ACCOUNT_GONE = 4410  # close code: the account was deleted or deactivated (services.announce_account_gone)


class BattleConsumer(AsyncJsonWebsocketConsumer):
    participant = None
    battle_id = None
    turn_task: asyncio.Task | None = None
    gone = False  # the socket is closed: nothing more is sent, and a turn in flight ends as "disconnected"
    announced: asyncio.Event  # the current turn's "turn_start" frame has been sent

    @classmethod
    async def encode_json(cls, content):
        return orjson.dumps(content).decode()  # every delta frame is encoded: orjson, not json.dumps

    async def dispatch(self, message):
        """Channels' dispatch without its ``close_old_connections`` before each message: a hop to a
        worker thread per frame (a twelfth of the vote socket's CPU under py-spy), for connections
        this consumer never holds on its loop (config/async_db.py closes its own)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # ------------------------------------------------------------ connection

    async def connect(self):
        self.participant = await in_db_thread(selectors.participant_for)(self.scope.get("user"))
        if self.participant is None:
            await self.close(code=4401)  # not logged in, or no participant profile
            return
        cookie_language = self.scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
        codes = {code for code, _name in settings.LANGUAGES}
        self.language = cookie_language if cookie_language in codes else self.participant.ui_language
        # Deleting or deactivating the account closes this socket (account_gone), from any process.
        self.account_group = services.participant_group(self.participant.public_id)
        try:
            await self.channel_layer.group_add(self.account_group, self.channel_name)
        except Exception:  # the channel layer (Redis) is down or restarting: every prompt re-checks anyway
            logger.warning("socket not in its account group (channel layer unavailable)", exc_info=True)
            self.account_group = None
        await self.accept()
        self.predictor = upstream.Predictor()
        self.predictor.prepare_new_battle()

    async def disconnect(self, code):
        if getattr(self, "account_group", None) is not None:
            try:
                await self.channel_layer.group_discard(self.account_group, self.channel_name)
            except Exception:  # the group entry expires by itself in the channel layer
                logger.warning("could not leave the account group (channel layer unavailable)", exc_info=True)
        self.gone = True
        await self.stop_turn()  # cancels both upstream requests; run_turn applies the disconnect rule

    async def account_gone(self, event):
        """services.announce_account_gone: the account was deleted or deactivated. Stop answering
        and close; the browser shows the close code (prompts from a socket that missed this are
        refused by the service anyway)."""
        await self.stop_turn()
        await self.close(code=ACCOUNT_GONE)

    async def stop_turn(self):
        """Cancel the turn in flight, if any, and wait until it has stored what it got."""
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
            try:
                await self.turn_task
            except (asyncio.CancelledError, Exception):
                pass

    # ------------------------------------------------------------ frames in

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        with translation.override(self.language):
            await self.read_frame(text_data)

    async def read_frame(self, text_data: str | None):
        """Every frame gets an answer: handled, or an error frame; a bad one changes nothing."""
        if text_data is None:
            return await self.send_error("bad_frame", _("Only text frames are accepted."))
        limits = settings.ARENA
        # (The server refuses frames far over the limit itself: see websocket_max_size.)
        if len(text_data) > limits["FRAME_MAX_BYTES"] or len(text_data.encode("utf-8")) > limits["FRAME_MAX_BYTES"]:
            return await self.send_error("frame_too_large", _("The message is too large."))
        if nesting_exceeds(text_data, limits["FRAME_MAX_DEPTH"]):
            return await self.send_error("frame_too_deep", _("The message could not be read."))
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            return await self.send_error("bad_frame", _("The message could not be read."))
        if not isinstance(content, dict):
            return await self.send_error("bad_frame", _("The message could not be read."))
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        handlers = {"prompt": self.on_prompt, "stop": self.on_stop, "new_battle": self.on_new_battle,
                    "resume": self.on_resume, "vote": self.on_vote}
        kind = content.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return await self.send_error("unknown_type", _("Unknown message type."))
        with translation.override(self.language):
            try:
                await handler(content)
            except Exception:  # a bug, not a bad frame: the socket and any turn in flight carry on
                logger.exception("the %r frame could not be handled", kind)
                await self.send_error("server_error", _("Something went wrong on our side. Try again."))

    async def on_new_battle(self, content):
        if self.is_answering():
            return await self.send_error("busy", _("Wait until both answers finish, or press stop."))
        if self.battle_id is not None:
            await in_db_thread(services.abandon_battle)(battle_id=self.battle_id)
        self.battle_id = None
        self.predictor.prepare_new_battle()
        await self.send_json({"type": "reset"})

    async def on_stop(self, content):
        if self.is_answering():
            self.turn_task.cancel()

    async def on_resume(self, content):
        """A page whose socket dropped takes its battle back: the conversation so far, per side."""
        try:
            battle_id = uuid.UUID(content.get("battle"))
        except (TypeError, ValueError, AttributeError):
            battle_id = None
        if battle_id is None or self.battle_id is not None:  # a page resumes once, on a fresh socket
            return await self.send_json(resume.closed())
        if self.is_answering():
            return await self.send_error("busy", _("Wait until both answers finish, or press stop."))
        frame = await resume.resumed_frame(self.participant, battle_id)
        if frame["type"] == "resumed":
            self.battle_id = battle_id
        await self.send_json(frame)

    async def on_vote(self, content):
        frame = await vote_batching.vote_frame(self.participant, content, self.language)
        try:
            await self.send_json(frame)
        except (OSError, RuntimeError):  # closed meanwhile: the vote is stored all the same, a reload shows it
            return
        if frame.get("code") == "account_gone":
            await self.close(code=ACCOUNT_GONE)

    async def on_prompt(self, content):
        if self.is_answering():
            return await self.send_error("busy", _("Wait until both answers finish, or press stop."))
        speculation = None
        try:
            text = services.clean_prompt(content.get("text"))  # nothing invalid goes upstream, even speculatively
            speculation = self.predictor.start(self.battle_id, text)  # the upstream requests start now
            # One transaction: account check, rate limit (under the participant's row lock), battle, prompt.
            accepted = await in_db_thread(services.submit_prompt)(
                participant=self.participant, battle_id=self.battle_id, text=text,
                proposed=self.predictor.proposed_pair(speculation, self.battle_id))
        except services.ArenaError as error:
            self.predictor.refused(speculation)
            await self.send_error(error.code, str(error.message))
            if error.code == "account_gone":
                await self.close(code=ACCOUNT_GONE)
            return
        except BaseException:
            if speculation is not None:
                speculation.cancel()
            raise
        speculation = self.predictor.accepted(accepted, speculation)
        plan = accepted.plan
        self.battle_id = accepted.battle_id
        # The upstream requests start first; the turn's frames wait until the browser has heard of it.
        self.announced = asyncio.Event()
        self.turn_task = asyncio.create_task(self.run_turn(self.battle_id, plan, speculation))
        try:
            if accepted.new_battle:
                await self.send_json({"type": "battle", "battle": str(accepted.battle_id)})
            await self.send_json({"type": "turn_start", "turn": plan.turn})
        finally:
            self.announced.set()  # whatever happened to those two, the turn's frames must not wait forever

    def is_answering(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    # ------------------------------------------------------------ streaming

    async def run_turn(self, battle_id, plan: services.TurnPlan, speculation: upstream.Speculation | None = None):
        frames = DeltaFrames(self.relay, settings.ARENA["FRAME_INTERVAL_MS"] / 1000)
        answers: dict[str, services.Answer] = {}  # side -> what it had streamed when it ended (a disconnect included)
        sides = {side: asyncio.create_task(self.stream_side(
                     battle_id, side, plan, frames, answers, speculation.take(side) if speculation else None))
                 for side in SIDES}
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
        await asyncio.shield(frames.close())  # text a stopped side had streamed reaches the page too
        failure = failure or next((r for r in results if isinstance(r, client.EndpointError)), None)
        if failure is not None and not isinstance(failure, client.EndpointError):  # e.g. mark_unhealthy's database
            failure = client.EndpointError(f"{type(failure).__name__}: {failure}", before_first_token=False)
        streamed = {side: answer.content for side, answer in answers.items()}
        if failure is not None:
            status = Battle.Status.FAILED
        elif self.gone and cancelled and not all(streamed.get(side) for side in SIDES):
            status = Battle.Status.ABANDONED  # cut by a disconnect before both sides had started answering
        else:
            status = Battle.Status.READY  # a disconnect after both had started leaves it votable and resumable
        # The answers and the battle's new state in one transaction (shielded: a second stop must not lose them).
        status, stored = await asyncio.shield(in_db_thread(services.end_turn)(
            battle_id=battle_id, turn=plan.turn, answers=list(answers.values()), status=status,
            reason=str(failure or "")))
        if self.gone and cancelled and failure is None:
            return
        with translation.override(self.language):
            if not stored:
                await self.relay({"type": "error", "code": "server_error",
                                  "message": _("Something went wrong on our side. Try again.")})
                failure = failure or client.EndpointError("the turn could not be stored", before_first_token=False)
            elif failure is not None:
                if failure.before_first_token:
                    message = _("One of the models is not available right now. Start a new battle to try another pair.")
                else:
                    message = _("One of the models stopped answering. This battle cannot be voted; start a new one.")
                await self.relay({"type": "error", "code": "model_failed", "message": message})
            await self.relay({
                "type": "turn_done", "status": status, "stopped": cancelled,
                "can_vote": status == Battle.Status.READY,
            })
        self.predictor.turn_done(None if failure is not None else streamed)
        if failure is not None:
            self.battle_id = None  # the next prompt starts a fresh pair

    async def stream_side(self, battle_id, side: str, plan: services.TurnPlan, frames: DeltaFrames,
                          answers: dict, prefetch: upstream.Prefetch | None = None):
        """Relay one side's answer; what it streamed goes into ``answers`` (stored with the turn's end)."""
        call = plan.calls[side]  # endpoint and sampling, decided with the prompt: no database read here
        stats = prefetch.stats if prefetch is not None else client.StreamStats()
        error = ""
        source = prefetch.deltas() if prefetch is not None else upstream.side_stream(call, plan.messages_for(side), stats)
        try:
            async for delta in source:
                frames.add(side, delta)
        except client.EndpointError as exc:
            error = str(exc)
            logger.warning("battle %s side %s: endpoint %s failed: %s", battle_id, side, call.model_id, exc)
            await in_db_thread(mark_unhealthy)(call.model_id, error)
            raise
        except Exception as exc:  # anything unexpected still ends the battle cleanly
            logger.exception("battle %s side %s: unexpected streaming error", battle_id, side)
            error = f"{type(exc).__name__}: {exc}"
            raise client.EndpointError(error, before_first_token=stats.ttft_ms is None) from exc
        except asyncio.CancelledError:
            stats.finish_reason = stats.finish_reason or ("disconnected" if self.gone else "cancelled")
            raise
        finally:
            if prefetch is not None:
                prefetch.cancel()  # a stop or a failure of the other side: the upstream request ends too
            answers[side] = services.Answer(
                side=side, content=stats.text, finish_reason=stats.finish_reason or ("error" if error else "cancelled"),
                error=error, token_count=stats.token_count, ttft_ms=stats.ttft_ms, duration_ms=stats.duration_ms,
            )
        html = await render_answer(stats.text)  # in a worker thread, time-bounded
        await frames.flush(side)  # every delta of this side before its side_done
        await self.relay({"type": "side_done", "side": side, "finish_reason": stats.finish_reason, "html": html})

    async def relay(self, frame: dict):
        """Send a frame of a turn in flight. A socket already closed is the volunteer's disconnect, never
        a model's failure: nothing more is sent, and disconnect() ends the turn by the disconnect rule."""
        if self.gone:
            return
        await self.announced.wait()  # after "battle" and "turn_start" (set at once in later frames)
        try:
            await self.send_json(frame)
        except (OSError, RuntimeError):  # uvicorn: ClientDisconnected, or a send after the close
            self.gone = True

    async def send_error(self, code: str, message: str):
        await self.send_json({"type": "error", "code": code, "message": message})
