"""Builders shared by the leaderboard / sampling / quality tests (this module holds no tests)."""
from __future__ import annotations

import datetime as dt

import numpy as np
from django.utils import timezone

from arena.models import Battle, Message, Participant, Vote
from models_serving.models import ServedModel


def make_models(count: int, prefix: str = "Model", **fields) -> list[ServedModel]:
    return [
        ServedModel.objects.create(public_name=f"{prefix}-{k:02d}", health="healthy", **fields) for k in range(count)
    ]


def make_voter(basque_level: str = "C1-C2", education: str = "university") -> Participant:
    return Participant.objects.create(
        user=None, basque_level=basque_level, education=education, consent_version="test-v1",
        consented_at=timezone.now(),
    )


def add_votes(rows, participant: Participant | None = None, when: dt.datetime | None = None,
              excluded: bool = False, reasons: list[str] | None = None) -> list[Vote]:
    """One voted battle + vote per row ``(model_a, model_b, content, language, overall)``."""
    participant = participant or make_voter()
    battles = Battle.objects.bulk_create([
        Battle(participant=participant, model_a=a, model_b=b, status=Battle.Status.VOTED) for a, b, *_ in rows
    ])
    votes = Vote.objects.bulk_create([
        Vote(battle=battle, participant=participant, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
             content=content, language=language, overall=overall,
             basque_level=participant.basque_level, education=participant.education,
             excluded=excluded, exclusion_reasons=list(reasons or []))
        for battle, (_a, _b, content, language, overall) in zip(battles, rows)
    ])
    if when is not None:
        Vote.objects.filter(pk__in=[v.pk for v in votes]).update(created_at=when)
    return votes


def add_answers(battle: Battle, answer_a: str, answer_b: str, turn: int = 0) -> None:
    Message.objects.create(battle=battle, turn=turn, role="user", content="Kaixo, zer moduz?")
    Message.objects.create(battle=battle, turn=turn, role="assistant", side="A", content=answer_a)
    Message.objects.create(battle=battle, turn=turn, role="assistant", side="B", content=answer_b)


def bt_outcomes(strengths: np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                tie_rate: float = 0.3) -> list[str]:
    """Side-A outcomes ("A", "tie", "B") with E[A wins + ½ tie] = σ(θa − θb): Bradley–Terry with ties
    counted half, the model the leaderboard fits. Ties are likelier between close models."""
    p_a = 1.0 / (1.0 + np.exp(-(strengths[a] - strengths[b])))
    tie = 2 * tie_rate * np.minimum(p_a, 1 - p_a)
    u = rng.random(len(a))
    return ["tie" if x < t else ("A" if x < t + p - t / 2 else "B") for x, t, p in zip(u, tie, p_a)]


def synthetic_rows(models, strengths: np.ndarray, votes: int, rng: np.random.Generator, tie_rate: float = 0.3):
    """``votes`` battles between uniformly drawn distinct pairs; all three dimensions follow the truth."""
    n = len(models)
    a = rng.integers(0, n, votes)
    b = (a + rng.integers(1, n, votes)) % n  # never the same model twice
    overall = bt_outcomes(strengths, a, b, rng, tie_rate)
    content = bt_outcomes(strengths, a, b, rng, tie_rate)
    language = bt_outcomes(strengths, a, b, rng, tie_rate)
    return [(models[x], models[y], c, lang, o) for x, y, c, lang, o in zip(a, b, content, language, overall)], a, b, overall
