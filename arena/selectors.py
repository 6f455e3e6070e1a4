"""Reads for the arena's pages and consumer."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from arena import transcripts
from arena.jsonio import loads
from arena.models import ArenaConfig, Battle, ConsentText, ExportJob, Message, Participant, Reaction, Vote
from arena.vocabulary import SIDES


def participant_for(user) -> Participant | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Participant.objects.filter(user=user, user__is_active=True, deleted_at__isnull=True).first()


def active_consent() -> ConsentText | None:
    return ConsentText.objects.filter(is_active=True).order_by("-created_at", "-id").first()


def battle_conversations(battle: Battle) -> dict[str, list[dict]]:
    """Each side's conversation as it stands now (see arena/transcripts.py): what the models are sent."""
    rows = battle.messages.values_list(*transcripts.MESSAGE_FIELDS)
    return transcripts.conversations(battle.snapshot_a, battle.snapshot_b, rows)


def transcripts_of(battles: Iterable[Battle]) -> dict[str, tuple[str, str]]:
    """str(battle id) -> both sides' encoded conversations, from the stored messages, in one query."""
    battles = list(battles)
    rows: dict = {}
    messages = Message.objects.filter(battle__in=battles).values_list("battle_id", *transcripts.MESSAGE_FIELDS)
    for battle_id, *row in messages:
        rows.setdefault(battle_id, []).append(tuple(row))
    return {str(battle.pk): transcripts.encoded_sides(battle.snapshot_a, battle.snapshot_b, rows.get(battle.pk, ()))
            for battle in battles}


def judged_conversations(vote: Vote) -> dict[str, list[dict]]:
    """Each side's conversation as the volunteer judged it: the transcript frozen with the vote, or for
    a vote stored without one (imports, fixtures) the same rule applied to the battle's messages."""
    frozen = getattr(vote, "transcript", None)  # a missing reverse one-to-one raises an AttributeError
    if frozen is None:
        return battle_conversations(vote.battle)
    return dict(zip(SIDES, (loads(frozen.side_a), loads(frozen.side_b))))


def reveal(battle: Battle, *, board_state: dict | None = None, counted: bool = True,
           answers: dict[str, list[tuple]] | None = None) -> dict:
    """What the volunteer learns after the vote (arena/reveal.py): per side the public name, card,
    measured figures and energy; and under ``"vote"`` what the vote did for telling the pair apart,
    from ``board_state`` (``ranking.sampling_state()`` read before the vote; ``counted``: the overall
    fit counts this vote). ``answers``: per side the answers' figures, when read already (``reveals``).
    Only call once the battle is voted."""
    from arena import reveal as revealed

    assert battle.status == Battle.Status.VOTED, "identities are revealed only after the vote"
    if answers is None:
        answers = _answer_figures([battle.pk])[battle.pk]
    result: dict = {}
    for side, model in (("A", battle.model_a), ("B", battle.model_b)):
        figures = revealed.answer_figures(answers[side])
        result[side] = {
            "name": model.public_name,
            "description": model.description,
            "temperature": battle.snapshot_for(side).get("temperature"),
            "system_prompt": battle.snapshot_for(side).get("system_prompt", ""),
            "card": revealed.public_card(model),
            "figures": figures,
            "energy": revealed.energy(model, figures["tokens"]),
        }
    result["vote"] = revealed.vote_effect(board_state, battle.model_a_id, battle.model_b_id, counted)
    return result


def reveals(votes: list[tuple[Battle, str]], *, board_state: dict | None = None) -> list[dict]:
    """``reveal`` for each ``(battle, overall choice)`` just voted, in the active language, with a whole
    batch's reads done at once: the pairs' models (set on the battles), every answer's figures, the
    arena's settings. The overall fit leaves "both bad" out unless it counts as a tie (arena/ranking/counts.py)."""
    from models_serving.models import ServedModel

    battles = [battle for battle, _overall in votes]
    models = ServedModel.objects.select_related("base_model").order_by().in_bulk(
        {battle.model_a_id for battle in battles} | {battle.model_b_id for battle in battles})
    for battle in battles:
        battle.model_a, battle.model_b = models[battle.model_a_id], models[battle.model_b_id]
    answers = _answer_figures([battle.pk for battle in battles])
    both_bad_as_tie = any(overall == "both_bad" for _battle, overall in votes) and ArenaConfig.current().both_bad_as_tie
    return [reveal(battle, board_state=board_state, answers=answers[battle.pk],
                   counted=overall != "both_bad" or both_bad_as_tie) for battle, overall in votes]


def _answer_figures(battle_ids) -> dict:
    """battle id -> side -> its answers' ``(token_count, ttft_ms, duration_ms)`` in turn order, in one query."""
    found: dict = {battle_id: {side: [] for side in SIDES} for battle_id in battle_ids}
    rows = Message.objects.filter(battle_id__in=list(found), role=Message.Role.ASSISTANT).order_by("turn").values_list(
        "battle_id", "side", "token_count", "ttft_ms", "duration_ms")
    for battle_id, side, *figures in rows:
        found[battle_id].setdefault(side, []).append(tuple(figures))
    return found


def contribution_counts(participant: Participant) -> dict:
    return {
        "votes": Vote.objects.filter(participant=participant).count(),
        "battles": participant.battles.count(),
        "prompts": Message.objects.filter(battle__participant=participant, role=Message.Role.USER).count(),
    }


def participant_data(participant: Participant) -> dict:
    """Everything stored about one volunteer, for their own download."""
    user = participant.user
    battles = []
    stored = participant.battles.prefetch_related("messages").select_related("vote__transcript", "model_a", "model_b")
    reacted: dict[str, list[dict]] = {}
    for battle_id, turn, side, kind in (Reaction.objects.filter(participant=participant)
                                        .order_by("message__battle_id", "message__turn", "message__side", "kind")
                                        .values_list("message__battle_id", "message__turn", "message__side", "kind")):
        reacted.setdefault(str(battle_id), []).append({"turn": turn, "side": side, "kind": kind})
    for battle in stored:
        vote = getattr(battle, "vote", None)
        entry = {
            "id": str(battle.id),
            "status": battle.status,
            "created_at": battle.created_at.isoformat(),
            "messages": [
                {"turn": m.turn, "role": m.role, "side": m.side, "content": m.content,
                 "created_at": m.created_at.isoformat()}
                for m in battle.messages.all()
            ],
            "reactions": reacted.get(str(battle.id), []),
        }
        if vote is not None:
            entry["vote"] = {"content": vote.content, "language": vote.language, "overall": vote.overall,
                             "created_at": vote.created_at.isoformat()}
            # After the vote the identities (and so the system prompts) are the volunteer's to see.
            entry["models"] = {"A": battle.model_a.public_name, "B": battle.model_b.public_name}
            entry["conversations"] = judged_conversations(vote)
        battles.append(entry)
    return {
        "account": {
            "username": user.username if user else None,
            "email": user.email if user else None,
            "date_joined": user.date_joined.isoformat() if user else None,
        },
        "profile": {
            "participant_id": str(participant.public_id),
            "basque_level": participant.basque_level,
            "education": participant.education,
            "dialect_area": participant.dialect_area,
            "age_band": participant.age_band,
            "consent_version": participant.consent_version,
            "consented_at": participant.consented_at.isoformat(),
            "ui_language": participant.ui_language,
            "nickname": participant.nickname,
            "show_on_board": participant.show_on_board,
        },
        "battles": battles,
    }


def export_jobs_for(user, limit: int = 20) -> list[ExportJob]:
    """The researcher's own queued exports, newest first (nobody sees another's)."""
    return list(ExportJob.objects.filter(requested_by=user).order_by("-created_at")[:limit])


def export_job_for(user, job_id) -> ExportJob | None:
    """One of the researcher's own exports, or None (also for someone else's)."""
    return ExportJob.objects.filter(pk=job_id, requested_by=user).first()


def leaderboard_scores(dimension: str = "overall") -> dict[str, float]:
    """Bradley–Terry scores by public name (the evaluation app correlates benchmarks with these)."""
    from arena import ranking

    return ranking.leaderboard_scores(dimension)


def resumable_state(participant: Participant, battle_id) -> tuple[str, list[tuple]] | None:
    """(status, messages as (turn, role, side, content, finish_reason)) of the participant's battle, or None."""
    battle = Battle.objects.filter(pk=battle_id, participant=participant).first()
    if battle is None:
        return None
    rows = battle.messages.order_by("turn", "role", "side").values_list(
        "turn", "role", "side", "content", "finish_reason")
    return battle.status, list(rows)


def unchecked_vote_ids(*, older_than: timedelta, limit: int) -> list[int]:
    """Votes the quality checks never ran on, stored more than ``older_than`` ago (oldest first)."""
    cutoff = timezone.now() - older_than
    return list(Vote.objects.filter(checked_at__isnull=True, created_at__lt=cutoff)
                .order_by("created_at").values_list("pk", flat=True)[:limit])


def published_board_state() -> dict | None:
    """The last published overall fit as adaptive sampling reads it (a cache read, no database): what
    the reveal's "what your vote did" compares with, read before the vote is stored."""
    from arena import ranking

    return ranking.sampling_state()


def reactions_of(participant: Participant, battle_id) -> list[dict] | None:
    """The volunteer's reactions in their own battle as ``{"turn", "side", "kind"}``; None when the battle
    is not theirs (or does not exist)."""
    if not Battle.objects.filter(pk=battle_id, participant=participant).exists():
        return None
    rows = Reaction.objects.filter(message__battle_id=battle_id, participant=participant).order_by(
        "message__turn", "message__side", "kind").values_list("message__turn", "message__side", "kind")
    return [{"turn": turn, "side": side, "kind": kind} for turn, side, kind in rows]


def reaction_counts_by_model() -> list[dict]:
    """Reactions per model and kind, over every battle not hidden by a moderator: ``{"model", "counts":
    {kind: n}, "total"}``, models by name. Two grouped queries (side A's answers, side B's)."""
    from django.db.models import Count

    table: dict[str, dict[str, int]] = {}
    for side in SIDES:
        rows = (Reaction.objects.filter(message__side=side, message__battle__hidden=False)
                .values_list(f"message__battle__model_{side.lower()}__public_name", "kind")
                .annotate(n=Count("id")).order_by())
        for name, kind, n in rows:
            counts = table.setdefault(name, dict.fromkeys(Reaction.Kind.values, 0))
            counts[kind] = counts.get(kind, 0) + n
    return [{"model": name, "counts": counts, "total": sum(counts.values())} for name, counts in sorted(table.items())]
