"""Builders shared by the arena tests: models, voters, battles, votes, and the export's data set.

Plain functions (the fixtures that use them live in conftest.py); no test module imports another.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import io
import json
import zipfile

import math

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from arena import selectors
from arena.export import Export, ExportForm
from arena.services.styles import store_vote_styles
from arena.models import AnswerStyle, Battle, Message, Participant, Vote, VoteTranscript
from models_serving.models import ServedModel

# ---------------------------------------------------------------- models, voters and votes in bulk


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
    """One voted battle + vote per row ``(model_a, model_b, content, language, overall)`` (no transcripts)."""
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


def independent_logistic_fit(a: np.ndarray, b: np.ndarray, outcome_a: list[str], n: int) -> np.ndarray:
    """Plain maximum likelihood, one row per vote: P(a beats b) = σ(θa − θb), a tie is y = ½.

    Written from scratch with scipy.optimize (no choix, no count matrix); θ_0 is pinned to 0 for
    identifiability and the result is put on the leaderboard's scale (centred, 1000 + 400·θ/ln 10).
    """
    from scipy import optimize

    y = np.array([{"A": 1.0, "tie": 0.5, "B": 0.0}[o] for o in outcome_a])

    def loss_and_grad(free):
        theta = np.concatenate([[0.0], free])
        z = theta[a] - theta[b]
        loss = np.sum(np.logaddexp(0, z) - y * z)
        residual = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.zeros(n)
        np.add.at(grad, a, residual)
        np.add.at(grad, b, -residual)
        return loss, grad[1:]

    result = optimize.minimize(loss_and_grad, np.zeros(n - 1), jac=True, method="L-BFGS-B",
                               options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000})
    theta = np.concatenate([[0.0], result.x])
    return 1000 + 400 / math.log(10) * (theta - theta.mean())


# ---------------------------------------------------------------- one battle, voted over HTTP

VALID = {"content": "A", "language": "A", "overall": "A"}


def ready_battle(participant, models, status=Battle.Status.READY) -> Battle:
    """A one-turn battle between ``models[0]`` (A) and ``models[1]`` (B), answered "Kaixo A!" / "Kaixo B!"."""
    battle = Battle.objects.create(
        participant=participant, model_a=models[0], model_b=models[1], status=status,
        snapshot_a=models[0].sampling_snapshot(), snapshot_b=models[1].sampling_snapshot(),
    )
    Message.objects.create(battle=battle, turn=0, role="user", content="Kaixo")
    for side in "AB":
        Message.objects.create(battle=battle, turn=0, role="assistant", side=side, content=f"Kaixo {side}!")
    return battle


def two_turn_battle(participant, models) -> Battle:
    """A READY battle of two turns; side B has no system prompt; messages stored out of order."""
    battle = Battle.objects.create(
        participant=participant, model_a=models[0], model_b=models[1], status=Battle.Status.READY,
        snapshot_a=models[0].sampling_snapshot(), snapshot_b={**models[1].sampling_snapshot(), "system_prompt": ""},
    )
    # Stored out of order, with characters JSON must escape: the transcript orders and encodes them.
    for turn, prompt in ((1, 'Eta "bigarrena"?\n'), (0, "Kaixo\\ zer moduz? ñ €")):
        for side in "BA":
            Message.objects.create(battle=battle, turn=turn, role="assistant", side=side, content=f"{side}{turn}\t<b>")
        Message.objects.create(battle=battle, turn=turn, role="user", side="", content=prompt)
    return battle


def logged_in(participant, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(participant.user)
    return client


# ---------------------------------------------------------------- the export's data set and its output

SALT = "test-export-salt"
EXPORT_SETTINGS = {**settings.ARENA, "EXPORT_SALT": SALT, "DATASET_LICENSE": "cc-by-sa-4.0"}
PEOPLE = [  # username, e-mail, first name, last name, level, education
    ("anetxu_77", "anetxu.posta@example.eus", "Anetxuka", "Etxeberriagoitia", "C1-C2", "university"),
    ("jonpatxi_88", "jp.agirre@example.eus", "Jonpatxi", "Agirrezabalaga", "native", "postgraduate"),
    ("mirentxu_99", "mirentxu.z@example.eus", "Mirentxuka", "Zubiriaurre", "B1-B2", "secondary"),
]


def utc(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


def participant_hash(public_id) -> str:
    return hmac.new(SALT.encode(), str(public_id).encode(), hashlib.sha256).hexdigest()[:16]


def make_person(username, email, first, last, level, education) -> Participant:
    user = get_user_model().objects.create_user(  # no password: hashing one costs ~1 s of CPU
        username=username, email=email, first_name=first, last_name=last
    )
    return Participant.objects.create(
        user=user, basque_level=level, education=education, dialect_area="zuberera", age_band="45-59",
        consent_version="v1", consented_at=utc(1),
    )


def make_vote(participant, model_a, model_b, turns, content, language, overall, *, at, reasons=(), status="voted"):
    """A battle with ``turns`` = [(prompt, answer A, answer B)], voted (without the service: no
    frozen transcript) unless ``status`` says otherwise."""
    battle = Battle.objects.create(
        participant=participant, model_a=model_a, model_b=model_b, status=status,
        snapshot_a=model_a.sampling_snapshot(), snapshot_b=model_b.sampling_snapshot(),
    )
    for turn, (prompt, answer_a, answer_b) in enumerate(turns):
        # Created answers first: the export must order by turn and side, not by insertion.
        Message.objects.create(battle=battle, turn=turn, role="assistant", side="B", content=answer_b)
        Message.objects.create(battle=battle, turn=turn, role="assistant", side="A", content=answer_a)
        Message.objects.create(battle=battle, turn=turn, role="user", side="", content=prompt)
    if status != "voted":
        return battle
    vote = Vote.objects.create(
        battle=battle, participant=participant, model_a=model_a, model_b=model_b,
        content=content, language=language, overall=overall,
        basque_level=participant.basque_level, education=participant.education,
        excluded=bool(reasons), exclusion_reasons=list(reasons),
    )
    Vote.objects.filter(pk=vote.pk).update(created_at=at)
    return battle


def freeze_all_transcripts(every: int = 1) -> None:
    """Freeze the transcripts of votes stored without them, as services.cast_vote would have."""
    for vote in Vote.objects.select_related("battle").filter(transcript__isnull=True).order_by("id")[::every]:
        side_a, side_b = selectors.transcripts_of([vote.battle])[str(vote.battle_id)]
        VoteTranscript.objects.create(vote=vote, side_a=side_a, side_b=side_b)


def run_export(**fields) -> tuple[dict[str, bytes], Export]:
    """An export of ``fields`` (as the page's query), unzipped: {entry name: bytes}, and the run."""
    form = ExportForm(data=fields)
    assert form.is_valid(), form.errors
    export = Export(form.to_options())
    blob = b"".join(export.iter_zip())
    with zipfile.ZipFile(io.BytesIO(blob)) as bundle:
        assert bundle.testzip() is None
        return {name: bundle.read(name) for name in bundle.namelist()}, export


def jsonl_rows(data: bytes) -> list[dict]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def data_entry(files: dict[str, bytes]) -> bytes:
    (name,) = [n for n in files if n.startswith("basque-arena-")]
    return files[name]


# ---------------------------------------------------------------- style-controlled votes (issue #12)


def add_styled_votes(models, rng, votes: int, tokens: list[int], length_effect: float, left_bias: float,
                     basque: list[float] | None = None):
    """Equally good models whose answers differ in length only; voters favour the longer answer
    (``length_effect`` per unit of the relative length difference) and the left side."""
    voter = make_voter()
    n = len(models)
    a = rng.integers(0, n, votes)
    b = (a + rng.integers(1, n, votes)) % n
    battles = Battle.objects.bulk_create([
        Battle(participant=voter, model_a=models[x], model_b=models[z], status=Battle.Status.VOTED) for x, z in zip(a, b)
    ])
    messages = Message.objects.bulk_create([
        Message(battle=battle, turn=0, role="assistant", side=side, content="...")
        for battle in battles for side in "AB"
    ])
    length = np.array(tokens, dtype=float) * rng.uniform(0.8, 1.2, (votes, n))
    share = np.array(basque or [1.0] * n)
    styles = []
    for v, battle in enumerate(battles):
        for side, model_index, message in (("A", a[v], messages[2 * v]), ("B", b[v], messages[2 * v + 1])):
            styles.append(AnswerStyle(message=message, battle=battle, side=side, tokens=int(length[v, model_index]),
                                      basque_chars=int(100 * share[model_index]), language_chars=100))
    AnswerStyle.objects.bulk_create(styles)
    la, lb = length[np.arange(votes), a], length[np.arange(votes), b]
    logit = length_effect * (la - lb) / (la + lb + 1) + left_bias
    wins = rng.random(votes) < 1 / (1 + np.exp(-logit))
    choice = np.where(wins, "A", "B")
    Vote.objects.bulk_create([
        Vote(battle=battle, participant=voter, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
             content=c, language=c, overall=c, basque_level=voter.basque_level, education=voter.education)
        for battle, c in zip(battles, choice)
    ])
    store_vote_styles(battle_ids=[battle.pk for battle in battles])


# ---------------------------------------------------------------- campaigns (issue #13)


def make_campaign(slug: str = "udazkena", *, starts: dt.datetime | None = None, ends: dt.datetime | None = None,
                  models=(), targets=(), **fields):
    """A campaign running now unless ``starts``/``ends`` say otherwise, listing ``models`` (each with
    the matching entry of ``targets`` as its vote target, 0 when missing)."""
    from arena.models import Campaign, CampaignModel

    now = timezone.now()
    campaign = Campaign.objects.create(
        slug=slug, title_eu=fields.pop("title_eu", f"Kanpaina {slug}"), starts_at=starts or now - dt.timedelta(days=1),
        ends_at=ends or now + dt.timedelta(days=10), **fields,
    )
    for k, model in enumerate(models):
        CampaignModel.objects.create(campaign=campaign, model=model, vote_target=targets[k] if k < len(targets) else 0)
    return campaign


def add_campaign_votes(campaign, participant, models, count: int, *, excluded: bool = False, when=None,
                       reasons: list[str] | None = None) -> list[Vote]:
    """``count`` votes by ``participant`` between ``models[0]`` and ``models[1]`` cast in ``campaign``."""
    votes = add_votes([(models[0], models[1], "A", "A", "A")] * count, participant=participant, when=when,
                      excluded=excluded, reasons=reasons)
    Vote.objects.filter(pk__in=[v.pk for v in votes]).update(campaign=campaign)
    Battle.objects.filter(vote__in=votes).update(campaign=campaign)
    return votes
