"""What the volunteer learns after the vote, per side: the model's public card, measured figures of its
answers, their energy in everyday units, and what the vote did for telling the pair apart.

Only ``arena.selectors.reveal`` calls this, and only for a voted battle: nothing here may run before
the vote (the identities would leak). The texts are built here, in the request's language, so the
page shows them with ``textContent`` and never formats numbers or plurals itself.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from django.urls import get_script_prefix, reverse
from django.utils.formats import number_format
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from arena.ranking import bt, separation
from arena.ranking.board import ranking_settings, ridge_for
from models_serving.models import ServedModel

LED_WATTS = 10.0  # an ordinary LED bulb (as ComparIA's equivalences)
PHONE_CHARGE_WH = 15.0  # a smartphone's full charge, about 4,000 mAh at 3.8 V
Z_90 = NormalDist().inv_cdf(0.95)  # the level the leaderboard's "votes to tell apart" uses


def leaderboard_anchor(name: str) -> str:
    """The id of a model's row in the overall table (templates/arena/leaderboard.html)."""
    return f"overall-{slugify(name)}"


def _number(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals, in the language's notation (a decimal comma in eu and es)."""
    if digits == 0:
        return number_format(int(round(value)), use_l10n=True, force_grouping=True)
    return number_format(round(value, digits), decimal_pos=digits, use_l10n=True)


def public_card(model: ServedModel) -> dict:
    """What the model is, in plain words: base model, size, adaptation, its leaderboard row."""
    base = model.backbone
    if not base and model.kind == ServedModel.Kind.VLLM_LORA and model.base_model_id:
        base = model.base_model.public_name  # the adapter's registered base
    adaptation = model.adaptation
    if not adaptation and model.kind == ServedModel.Kind.VLLM_LORA:
        adaptation = _("a LoRA adapter trained on top of the base model")
    lines = [(_("Base model"), base), (_("Size"), model.parameters), (_("Adaptation"), adaptation)]
    return {
        "backbone": base, "parameters": model.parameters, "adaptation": adaptation,
        "leaderboard_url": _leaderboard_url(get_script_prefix(), model.public_name),
        "lines": [{"label": label, "value": value} for label, value in lines if value],
    }


@functools.lru_cache(maxsize=1024)
def _leaderboard_url(script_prefix: str, name: str) -> str:  # two per vote: reverse and slugify are not free
    return f"{reverse('arena:leaderboard')}#{leaderboard_anchor(name)}"


def answer_figures(rows: list[tuple]) -> dict:
    """One side's answers ``(token_count, ttft_ms, duration_ms)``: tokens summed over the turns, time to
    first token averaged over them, and the writing speed (tokens after the first ÷ time after the
    first, over all turns: docs/serving.md's decode speed)."""
    tokens = sum(count or 0 for count, _ttft, _duration in rows)
    ttfts = [ttft for _count, ttft, _duration in rows if ttft is not None]
    writing = [(count - 1, duration - ttft) for count, ttft, duration in rows
               if ttft is not None and duration is not None and count and duration > ttft]
    writing_ms = sum(ms for _tokens, ms in writing)
    speed = 1000.0 * sum(n for n, _ms in writing) / writing_ms if writing_ms else None
    ttft = sum(ttfts) / len(ttfts) if ttfts else None
    turns = len(rows)
    lines = [{"label": _("Tokens"), "value": ngettext("%(n)s, summed over %(turns)d answer",
                                                      "%(n)s, summed over %(turns)d answers", turns)
              % {"n": number_format(tokens, use_l10n=True, force_grouping=True), "turns": turns}}]
    if ttft is not None:
        lines.append({"label": _("Time to first token"), "value": ngettext(
            "%(s)s s (mean of %(turns)d answer)", "%(s)s s (mean of %(turns)d answers)", len(ttfts))
            % {"s": _number(ttft / 1000, 2), "turns": len(ttfts)}})
    if speed is not None:
        lines.append({"label": _("Writing speed"), "value": _("%(v)s tokens per second (all answers together)")
                      % {"v": _number(speed)}})
    return {"turns": turns, "tokens": tokens, "ttft_ms": ttft, "tokens_per_second": speed, "lines": lines}


def energy(model: ServedModel, tokens: int) -> dict | None:
    """The answers' energy from the model's estimate (Wh per 1,000 tokens), in everyday units; None
    when the model has no estimate."""
    if model.energy_wh_per_1k_tokens is None:
        return None
    wh = tokens / 1000.0 * model.energy_wh_per_1k_tokens
    led_seconds = wh / LED_WATTS * 3600.0
    phone = 100.0 * wh / PHONE_CHARGE_WH
    if led_seconds < 60:
        digits = 1 if led_seconds < 10 else 0  # "3.6 seconds", "42 seconds"
        led = ngettext("a 10 W LED bulb lit for %(n)s second", "a 10 W LED bulb lit for %(n)s seconds",
                       round(led_seconds)) % {"n": _number(led_seconds, digits)}
    else:
        led = _("a 10 W LED bulb lit for %(n)s minutes") % {"n": _number(led_seconds / 60)}
    text = _("These answers used about %(wh)s Wh: as much as %(led)s, or %(phone)s%% of a phone charge "
             "(about 15 Wh).") % {"wh": _number(wh, 3 if wh < 1 else 1), "led": led,
                                  "phone": _number(phone, 2 if phone < 1 else 1)}
    source = model.energy_source or _("not stated")
    return {"wh": wh, "led_minutes": led_seconds / 60, "phone_percent": phone, "source": source, "text": text,
            "source_text": _("Source: %(source)s") % {"source": source}}


@dataclass(frozen=True)
class BoardSeparation:
    """A published fit's strengths and covariance, as "votes to tell apart" needs them."""

    index: dict[int, int]  # model id -> row
    strengths: np.ndarray
    cov: np.ndarray


# The last board's covariance: every vote until the next refresh reads the same board, and rebuilding
# it per vote was a fifth of the vote socket's CPU (bench/vote_ingest.py under py-spy).
_last_board: tuple[tuple, BoardSeparation] | None = None


def _board_separation(state: dict | None) -> BoardSeparation | None:
    global _last_board
    theta = (state or {}).get("theta") or {}
    if not theta:
        return None
    knobs = ranking_settings()
    key = (tuple(sorted(theta.items())), tuple(sorted((state.get("pairs") or {}).items())),
           knobs["prior"], knobs["prior_sd"])
    last = _last_board  # one read: other threads may replace it meanwhile
    if last is not None and last[0] == key:
        return last[1]
    ids = sorted(theta)
    index = {model_id: k for k, model_id in enumerate(ids)}
    n = len(ids)
    strengths = np.array([theta[model_id] for model_id in ids], dtype=float)
    i, j = bt.pair_index(n)
    position = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(i, j))}
    counts = np.zeros((len(i), 3))
    for (low, high), games in (state.get("pairs") or {}).items():
        if low in index and high in index:
            a, b = sorted((index[low], index[high]))
            counts[position[(a, b)], 0] = games  # only the games per pair enter the information
    cov = bt.analytic_covariances(strengths, counts, n, knobs["prior"], ridge_for(knobs["prior_sd"]))["fisher"]
    strengths.setflags(write=False)
    cov.setflags(write=False)  # shared by the threads that build reveals
    board = BoardSeparation(index=index, strengths=strengths, cov=cov)
    _last_board = (key, board)
    return board


def vote_effect(state: dict | None, model_a: int, model_b: int, counted: bool) -> dict:
    """How many more votes the leaderboard needed to tell the pair apart before this vote (from the
    fit it last published, ``ranking.sampling_state()``: no refit here) and after it.

    The information matrix is rebuilt from that fit's strengths and battles per pair (what the fit
    used: ``bt.information`` needs only the games per pair), then ``separation.votes_to_separate``
    as on the leaderboard. One vote more on the pair lowers the estimate by exactly one (its
    Sherman–Morrison step), so "after" is "before" − 1; ``counted`` is False for a vote the overall
    fit leaves out ("both bad" when it is not a tie)."""
    board = _board_separation(state)
    if board is None or model_a not in board.index or model_b not in board.index:
        return {"status": "no_fit", "before": None, "after": None, "text": _(
            "The leaderboard has no estimate for this pair yet: your vote is among the first that will place them.")}
    before = separation.votes_to_separate(board.strengths, board.cov, board.index[model_a], board.index[model_b], Z_90)
    if before is None:
        return {"status": "too_close", "before": None, "after": None, "text": _(
            "These two models are so close that no number of votes in sight would tell them apart; your vote "
            "still counts.")}
    if before == 0:
        return {"status": "apart", "before": 0, "after": 0, "text": _(
            "The leaderboard could already tell these two models apart; your vote makes that surer.")}
    if not counted:
        return {"status": "not_counted", "before": before, "after": before, "text": ngettext(
            "'Both bad' votes are left out of the overall ranking, so this pair still needs about %(n)d more vote "
            "to be told apart.",
            "'Both bad' votes are left out of the overall ranking, so this pair still needs about %(n)d more votes "
            "to be told apart.", before) % {"n": before}}
    after = before - 1
    if after == 0:
        text = _("This pair needed about one more vote to be told apart: yours may be the one.")
    else:
        text = ngettext("This pair needed about %(before)d more vote to be told apart; now about %(after)d.",
                        "This pair needed about %(before)d more votes to be told apart; now about %(after)d.",
                        before) % {"before": before, "after": after}
    return {"status": "closer", "before": before, "after": after, "text": text}
