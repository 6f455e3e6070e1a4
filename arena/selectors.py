"""Reads for the arena's pages and consumer."""
from __future__ import annotations

from django.db.models import Q

from arena.models import Battle, ConsentText, Message, Participant, Vote


def participant_for(user) -> Participant | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Participant.objects.filter(user=user, deleted_at__isnull=True).first()


def active_consent() -> ConsentText | None:
    return ConsentText.objects.filter(is_active=True).order_by("-created_at", "-id").first()


def conversation(battle: Battle, side: str) -> list[dict]:
    """The chat messages one side sees: its frozen system prompt, the prompts and its own answers."""
    snapshot = battle.snapshot_for(side)
    messages = []
    if snapshot.get("system_prompt"):
        messages.append({"role": "system", "content": snapshot["system_prompt"]})
    rows = battle.messages.filter(Q(role=Message.Role.USER) | Q(side=side)).order_by("turn", "-role")
    for message in rows:  # "user" sorts after "assistant": -role puts the prompt first in each turn
        if message.role == Message.Role.ASSISTANT and not message.content:
            continue
        messages.append({"role": message.role, "content": message.content})
    return messages


def reveal(battle: Battle) -> dict:
    """Public names shown after the vote. Only call once the battle is voted."""
    assert battle.status == Battle.Status.VOTED, "identities are revealed only after the vote"
    return {
        side: {
            "name": model.public_name,
            "description": model.description,
            "temperature": battle.snapshot_for(side).get("temperature"),
            "system_prompt": battle.snapshot_for(side).get("system_prompt", ""),
        }
        for side, model in (("A", battle.model_a), ("B", battle.model_b))
    }


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
    for battle in participant.battles.prefetch_related("messages").select_related("vote", "model_a", "model_b"):
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
        }
        if vote is not None:
            entry["vote"] = {"content": vote.content, "language": vote.language, "overall": vote.overall,
                             "created_at": vote.created_at.isoformat()}
            # After the vote the identities are the volunteer's to see.
            entry["models"] = {"A": battle.model_a.public_name, "B": battle.model_b.public_name}
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
        },
        "battles": battles,
    }


def leaderboard_scores(dimension: str = "overall") -> dict[str, float]:
    """Bradley–Terry scores by public name (the evaluation app correlates benchmarks with these)."""
    from arena import ranking

    return ranking.leaderboard_scores(dimension)
