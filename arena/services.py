"""Writes: sign-up, battles, messages, votes and account deletion.

Every state change of a battle goes through here, guarded by row locks and status checks, so a
double submit or a race between two tabs can never store two votes or vote a failed battle.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena import sampling, selectors
from arena.models import ArenaConfig, Battle, ConsentText, Message, Participant, Vote, VoteTranscript
from arena.vocabulary import Side


class ArenaError(Exception):
    """A refusal the volunteer should see: ``code`` for machines, ``message`` (translated) for people."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code = code
        self.message = message


# ---------------------------------------------------------------- participants

@transaction.atomic
def register_participant(*, username: str, email: str, password: str, profile: dict, consent: ConsentText,
                         language: str) -> Participant:
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    return Participant.objects.create(
        user=user,
        basque_level=profile["basque_level"],
        education=profile["education"],
        dialect_area=profile.get("dialect_area", ""),
        age_band=profile.get("age_band", ""),
        consent_version=consent.version,
        consented_at=timezone.now(),
        ui_language=language[:8],
    )


@transaction.atomic
def delete_participant(*, participant: Participant) -> None:
    """Remove the account and personal fields; battles and votes stay, tied only to an anonymous id."""
    user = participant.user
    participant.user = None
    participant.dialect_area = ""
    participant.age_band = ""
    participant.deleted_at = timezone.now()
    participant.save()
    # Prompts are the volunteer's own words: keep them for the study, as consented, but abandon
    # anything still open so it can never be voted on behalf of a deleted account.
    participant.battles.filter(status__in=Battle.OPEN_STATUSES).update(status=Battle.Status.ABANDONED)
    if user is not None:
        user.delete()


# ---------------------------------------------------------------- battles

@transaction.atomic
def start_battle(*, participant: Participant) -> Battle:
    """Draw two different active, healthy models and freeze their settings into a new battle."""
    from models_serving.selectors import available_models

    config = ArenaConfig.current()
    try:
        model_a, model_b = sampling.choose_pair(list(available_models()), config)
    except sampling.NotEnoughModels:
        raise ArenaError("no_models", _("There are not enough models available right now. Please try again later."))
    return Battle.objects.create(
        participant=participant, model_a=model_a, model_b=model_b,
        snapshot_a=model_a.sampling_snapshot(), snapshot_b=model_b.sampling_snapshot(),
    )


@transaction.atomic
def abandon_battle(*, battle_id) -> None:
    """A battle left without a vote (new battle, closed tab) can no longer be voted."""
    Battle.objects.filter(pk=battle_id, status__in=Battle.OPEN_STATUSES).update(
        status=Battle.Status.ABANDONED, updated_at=timezone.now()
    )


def check_prompt(*, participant: Participant, text) -> str:
    """Validate a prompt and the volunteer's rate limit; return the cleaned text (writes nothing)."""
    limits = settings.ARENA
    if not isinstance(text, str) or not text.strip():
        raise ArenaError("empty_prompt", _("Write a question or message first."))
    text = text.strip()
    if len(text) > limits["PROMPT_MAX_CHARS"]:
        raise ArenaError(
            "prompt_too_long",
            _("The message is too long (at most %(limit)d characters).") % {"limit": limits["PROMPT_MAX_CHARS"]},
        )
    since = timezone.now() - timedelta(seconds=60)
    recent = Message.objects.filter(
        battle__participant=participant, role=Message.Role.USER, created_at__gte=since
    ).count()
    if recent >= limits["PROMPTS_PER_MINUTE"]:
        raise ArenaError("rate_limited", _("You are sending messages too fast. Wait a minute and try again."))
    return text


@dataclass
class TurnPlan:
    """What the consumer needs to stream one turn: the message lists per side."""

    turn: int
    messages_a: list[dict]
    messages_b: list[dict]


@transaction.atomic
def begin_turn(*, battle_id, participant: Participant, text: str) -> TurnPlan:
    """Store the user's prompt and move the battle to 'answering'; each side is then sent its conversation."""
    battle = Battle.objects.select_for_update().get(pk=battle_id, participant=participant)
    if battle.status not in (Battle.Status.OPEN, Battle.Status.READY):
        raise ArenaError("battle_closed", _("This conversation is closed. Start a new battle."))
    turn = battle.messages.filter(role=Message.Role.USER).count()
    if turn >= settings.ARENA["MAX_TURNS"]:
        raise ArenaError("too_many_turns", _("This conversation is long enough. Please vote."))
    Message.objects.create(battle=battle, turn=turn, role=Message.Role.USER, content=text)
    battle.status = Battle.Status.ANSWERING
    battle.save(update_fields=["status", "updated_at"])
    conversations = selectors.battle_conversations(battle)
    return TurnPlan(turn=turn, messages_a=conversations[Side.A], messages_b=conversations[Side.B])


@transaction.atomic
def record_answer(*, battle_id, turn: int, side: str, content: str, finish_reason: str, error: str = "",
                  token_count: int = 0, ttft_ms: int | None = None, duration_ms: int | None = None) -> None:
    Message.objects.update_or_create(
        battle_id=battle_id, turn=turn, role=Message.Role.ASSISTANT, side=side,
        defaults={
            "content": content, "finish_reason": finish_reason[:20], "error": error[:2000],
            "token_count": token_count, "ttft_ms": ttft_ms, "duration_ms": duration_ms,
        },
    )


@transaction.atomic
def finish_turn(*, battle_id, failed: bool = False, reason: str = "") -> str:
    """Both sides are done: the battle becomes votable, or failed for good."""
    battle = Battle.objects.select_for_update().get(pk=battle_id)
    if battle.status != Battle.Status.ANSWERING:
        return battle.status
    if failed:
        battle.status = Battle.Status.FAILED
        battle.failure_reason = reason[:2000]
    else:
        battle.status = Battle.Status.READY
    battle.save(update_fields=["status", "failure_reason", "updated_at"])
    return battle.status


# ---------------------------------------------------------------- votes

def cast_vote(*, battle_id, participant: Participant, content: str, language: str, overall: str,
              after_commit: Callable[[int], object] | None = None) -> Vote:
    """Store the vote and freeze both conversations as judged; ``after_commit(vote id)`` runs once the
    vote is really stored (the view passes the quality-check task's ``delay``)."""
    try:
        vote = _store_vote(battle_id=battle_id, participant=participant, content=content, language=language,
                           overall=overall, after_commit=after_commit)
    except IntegrityError:
        # Two submits raced past the status check on a database without row locks (SQLite).
        raise ArenaError("already_voted", _("You have already voted in this battle."))
    return vote


@transaction.atomic
def _store_vote(*, battle_id, participant: Participant, content: str, language: str, overall: str,
                after_commit: Callable[[int], object] | None) -> Vote:
    battle = Battle.objects.select_for_update().get(pk=battle_id)
    if battle.participant_id != participant.pk:
        raise ArenaError("not_yours", _("This battle is not yours."))
    if battle.status == Battle.Status.VOTED:
        raise ArenaError("already_voted", _("You have already voted in this battle."))
    if battle.status != Battle.Status.READY:
        raise ArenaError("not_ready", _("This battle cannot be voted."))
    vote = Vote.objects.create(
        battle=battle, participant=participant, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
        content=content, language=language, overall=overall,
        basque_level=participant.basque_level, education=participant.education,
    )
    side_a, side_b = selectors.transcripts_of([battle])[str(battle.pk)]  # final now: no more turns after a vote
    VoteTranscript.objects.create(vote=vote, side_a=side_a, side_b=side_b)
    battle.status = Battle.Status.VOTED
    battle.save(update_fields=["status", "updated_at"])
    if after_commit is not None:
        transaction.on_commit(lambda: after_commit(vote.pk), robust=True)
    return vote
