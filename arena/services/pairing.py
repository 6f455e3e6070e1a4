"""Reads inside a battle's transaction: which pair a new battle gets, and how each side is called.

The battle socket that starts a new battle's upstream requests speculatively (arena/upstream.py)
draws ahead with ``candidates`` and ``choose``, outside any transaction; ``draw_pair`` keeps that
pair when it may still be drawn."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from arena import campaigns, sampling
from arena.models import ArenaConfig
from arena.services.errors import ArenaError
from models_serving.client import Endpoint
from models_serving.selectors import endpoint_for


@dataclass(frozen=True)
class Pair:
    """Two models drawn for a battle, in the running campaign (None: campaigns are not in use)."""

    campaign: object
    model_a: object
    model_b: object

    @property
    def ids(self) -> tuple[int, int]:
        return self.model_a.pk, self.model_b.pk


def candidates() -> tuple:
    """(the campaign state, the models a pair may be drawn from now)."""
    from models_serving.selectors import available_models

    state = campaigns.campaign_state()
    return state, (campaigns.campaign_pool(state.campaign, available_models()) if state.open else [])


def draw_pair(*, proposed: tuple[int, int] | None = None) -> Pair:
    """A read: the running campaign and a pair from its available models. ``proposed`` (a pair drawn
    earlier, whose upstream requests may already be under way: arena/upstream.py) is kept when both
    models may still be drawn; otherwise a fresh pair is drawn."""
    state, pool = candidates()
    if not state.open:
        raise ArenaError("no_campaign", state.closed_message)
    if proposed is not None:
        by_id = {model.pk: model for model in sampling.eligible(pool)}
        if proposed[0] != proposed[1] and all(model_id in by_id for model_id in proposed):
            return Pair(state.campaign, by_id[proposed[0]], by_id[proposed[1]])
    return Pair(state.campaign, *choose(pool, ArenaConfig.current()))


def choose(pool: list, config: ArenaConfig) -> tuple:
    try:
        return sampling.choose_pair(pool, config)
    except sampling.NotEnoughModels:
        raise ArenaError("no_models", _("There are not enough models available right now. Please try again later."))


@dataclass(frozen=True)
class SideCall:
    """How to ask one side's model for its answer: decided with the prompt, so the consumer starts both
    upstream requests without another database round trip (profiled: bench/relay_timeline.py)."""

    model_id: int
    endpoint: Endpoint
    temperature: float
    top_p: float
    max_tokens: int


def side_call(model, snapshot: dict) -> SideCall:
    return SideCall(model_id=model.pk, endpoint=endpoint_for(model), temperature=snapshot["temperature"],
                    top_p=snapshot["top_p"], max_tokens=snapshot["max_tokens"])
