"""A turn's upstream requests, possibly started before its prompt is stored (speculatively).

The prompt's transaction (account check, rate limit, campaign and pair, battle and prompt rows) takes
several milliseconds (bench/relay_timeline.py), and the volunteer waits for the first token through
all of it. So the battle socket predicts the turn: for a new battle it draws the pair ahead
(``propose``, when the socket opens or a battle ends), and for a later turn it knows the conversation
it relayed itself. Both upstream requests start at once (``Speculation``) while the transaction runs.

The transaction stays the authority. Its plan is compared with the prediction (``matches``): the
same models, endpoints, sampling settings and conversations, or the speculative requests are
cancelled and the plan's own are made. A refused prompt cancels them at once, and nothing of theirs
reaches the page: a turn's frames are sent only after its prompt is stored. A socket whose prompt
was refused does not speculate again until one is accepted, so a volunteer over the rate limit or
banned costs the models nothing beyond one cancelled request.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings

from arena import services, transcripts
from arena.models import ArenaConfig
from arena.vocabulary import SIDES
from models_serving import client


def side_stream(call: services.SideCall, messages: list[dict], stats: client.StreamStats) -> AsyncIterator[str]:
    """One side's answer from its endpoint, with the arena's timeouts, retries and size cap."""
    limits = settings.ARENA
    return client.stream_chat(
        call.endpoint, messages, temperature=call.temperature, top_p=call.top_p, max_tokens=call.max_tokens,
        stats=stats, first_token_timeout=limits["FIRST_TOKEN_TIMEOUT"], token_timeout=limits["TOKEN_TIMEOUT"],
        retries=limits["CONNECT_RETRIES"], max_chars=limits["ANSWER_MAX_CHARS"],  # stored and relayed; "length" at the cap
    )


@dataclass(frozen=True)
class Proposal:
    """A pair drawn ahead for the socket's next battle, with what its first turn will send."""

    system_prompts: dict[str, str]
    calls: dict[str, services.SideCall]


# A prediction may be a little stale (the prompt's transaction checks the pair again), so the pool it
# draws from is read at most once per POOL_SECONDS per process: with many battles starting, drawing
# ahead would otherwise repeat the transaction's own reads for every one of them.
POOL_SECONDS = 2.0
_recent_pool: tuple | None = None  # (read at, campaign state, pool, arena configuration)


def _pool() -> tuple:
    global _recent_pool
    now = time.monotonic()
    if _recent_pool is None or now - _recent_pool[0] > POOL_SECONDS:
        state, pool = services.candidates()
        _recent_pool = (now, state, pool, ArenaConfig.current())
    return _recent_pool[1:]


def propose() -> Proposal | None:
    """Draw the next battle's pair now (a read: nothing is stored); None when no battle could start."""
    state, pool, config = _pool()
    if not state.open:
        return None  # the prompt's own transaction will say why
    try:
        model_a, model_b = services.choose(pool, config)
    except services.ArenaError:
        return None
    models = dict(zip(SIDES, (model_a, model_b)))
    snapshots = {side: model.sampling_snapshot() for side, model in models.items()}
    return Proposal(
        system_prompts={side: snapshot.get("system_prompt", "") for side, snapshot in snapshots.items()},
        calls={side: services.side_call(models[side], snapshots[side]) for side in SIDES},
    )


class Prefetch:
    """One side's stream, requested now. Only its first delta is awaited ahead (that is what sends the
    request and waits for the model); the turn then reads the same stream directly, so the rest of
    the answer costs nothing more than an unspeculated one (a buffer per delta cost ~15 % of a
    worker's CPU with 200 battles)."""

    def __init__(self, call: services.SideCall, messages: list[dict]):
        self.stats = client.StreamStats()
        self._stream = side_stream(call, messages, self.stats)
        self._first = asyncio.ensure_future(self._stream.__anext__())

    async def deltas(self) -> AsyncIterator[str]:
        try:
            first = await self._first
        except StopAsyncIteration:
            return
        yield first
        async for delta in self._stream:
            yield delta

    def cancel(self) -> None:
        """Close the upstream response (vLLM aborts a request whose client left)."""
        if not self._first.done():
            self._first.cancel()  # the stream ends inside its own request
        else:
            if not self._first.cancelled() and self._first.exception() is None:
                asyncio.ensure_future(self._stream.aclose())  # suspended after its first delta


class Speculation:
    """Both sides' requests for a predicted turn, started before its prompt is stored."""

    def __init__(self, calls: dict[str, services.SideCall], messages: dict[str, list[dict]]):
        self.calls, self.messages = calls, messages
        self._prefetches = {side: Prefetch(calls[side], messages[side]) for side in SIDES}

    def matches(self, plan: services.TurnPlan) -> bool:
        return all(plan.calls[side] == self.calls[side] and plan.messages_for(side) == self.messages[side]
                   for side in SIDES)

    def take(self, side: str) -> Prefetch:
        return self._prefetches.pop(side)

    def cancel(self) -> None:
        for prefetch in self._prefetches.values():
            prefetch.cancel()
        self._prefetches.clear()


def first_turn(proposal: Proposal, prompt: str) -> Speculation:
    """The first turn of a battle with the proposed pair: each side's system prompt, then the prompt."""
    rows = [(0, "user", "", prompt)]
    messages = {side: transcripts.side_conversation(proposal.system_prompts[side], rows, side) for side in SIDES}
    return Speculation(proposal.calls, messages)


def next_turn(calls: dict[str, services.SideCall], so_far: dict[str, list[dict]], prompt: str) -> Speculation:
    """A later turn: the conversations the socket relayed (``so_far``, answers included), then the prompt."""
    return Speculation(calls, {side: [*so_far[side], {"role": "user", "content": prompt}] for side in SIDES})


class Predictor:
    """One battle socket's prediction of its next turn: a pair drawn ahead for a new battle, or the
    conversation it relayed for the battle in progress."""

    def __init__(self):
        self.enabled = settings.ARENA["SPECULATIVE_START"]
        self._proposal: asyncio.Future | None = None
        self._known: tuple | None = None  # (battle id, calls, conversations so far, answers included)
        self._turn: tuple | None = None  # the same for the turn in flight, before its answers
        self._refused = False

    def prepare_new_battle(self) -> None:
        """Draw the next battle's pair now, in a worker thread (nothing waits for it)."""
        from config.async_db import in_db_thread

        self._known = None
        if self.enabled and not self._refused:
            self._proposal = asyncio.ensure_future(in_db_thread(propose)())

    def start(self, battle_id, prompt: str) -> Speculation | None:
        """Both upstream requests of the predicted turn, started now; None when there is no prediction."""
        if not self.enabled or self._refused:
            return None
        if battle_id is None:
            proposal, self._proposal = self._proposal, None
            if proposal is None or not proposal.done() or proposal.cancelled() or proposal.exception() is not None:
                return None  # not drawn yet: the transaction draws the pair as it always did
            return first_turn(proposal.result(), prompt) if proposal.result() is not None else None
        if self._known is None or self._known[0] != battle_id:
            return None
        return next_turn(self._known[1], self._known[2], prompt)

    def proposed_pair(self, speculation: Speculation | None, battle_id) -> tuple[int, int] | None:
        if speculation is None or battle_id is not None:
            return None
        return speculation.calls["A"].model_id, speculation.calls["B"].model_id

    def accepted(self, accepted: services.AcceptedPrompt, speculation: Speculation | None) -> Speculation | None:
        """The stored prompt's plan; the speculation if it asked exactly that, else None (cancelled)."""
        self._refused = False
        plan = accepted.plan
        self._turn = (accepted.battle_id, plan.calls, {side: plan.messages_for(side) for side in SIDES})
        if speculation is not None and not speculation.matches(plan):
            speculation.cancel()
            return None
        return speculation

    def refused(self, speculation: Speculation | None) -> None:
        if speculation is not None:
            speculation.cancel()
        self._refused = True

    def turn_done(self, answers: dict[str, str] | None) -> None:
        """The turn ended with these answers stored (None: it failed, the next prompt starts a new battle)."""
        if answers is None or self._turn is None:
            self._turn = None
            self.prepare_new_battle()
            return
        battle_id, calls, conversations = self._turn
        self._known = (battle_id, calls, {side: [*conversations[side], {"role": "assistant", "content": answers[side]}]
                                          for side in SIDES})
        self._turn = None
