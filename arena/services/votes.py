"""Writes about votes: a volunteer's ballot on a battle, stored alone (the vote view) or in a batch
(the battle socket's group commit, arena/vote_batching.py), with both conversations frozen as judged.

Guarded by the battles' row locks and status checks, so a double submit or a race between two tabs
can never store two votes or vote a failed battle."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena import selectors
from arena.models import Battle, Participant, Vote, VoteTranscript

from arena.services.errors import ArenaError


@dataclass(frozen=True)
class Ballot:
    """One volunteer's answers on one battle, as the vote view or the battle socket received them (valid
    choices: arena/forms.py ``VoteForm``)."""

    battle_id: uuid.UUID
    participant_id: int
    content: str
    language: str
    overall: str

    def same_answers(self, vote: Vote) -> bool:
        return (vote.participant_id, vote.content, vote.language, vote.overall) == (
            self.participant_id, self.content, self.language, self.overall)


@dataclass(frozen=True)
class BallotResult:
    """What became of one ballot: ``vote`` is the stored vote (just stored, or for a ``repeat`` of it
    with the same answers, the one stored before), its ``battle`` loaded; otherwise ``error`` says why not."""

    ballot: Ballot
    vote: Vote | None = None
    repeat: bool = False
    error: ArenaError | None = None


def cast_vote(*, battle_id, participant: Participant, content: str, language: str, overall: str,
              after_commit: Callable[[int], object] | None = None) -> Vote:
    """Store one vote (see ``cast_votes``) or raise its refusal; a repeat is refused as already voted.
    ``after_commit(vote id)`` runs once the vote is really stored."""
    ballot = Ballot(battle_id=uuid.UUID(str(battle_id)), participant_id=participant.pk, content=content,
                    language=language, overall=overall)
    announce = (lambda ids: after_commit(ids[0])) if after_commit is not None else None
    (result,) = cast_votes(ballots=[ballot], after_commit=announce)
    if result.repeat:
        raise _already_voted()
    if result.error is not None:
        raise result.error
    return result.vote


def cast_votes(*, ballots: list[Ballot], after_commit: Callable[[list[int]], object] | None = None,
               ) -> list[BallotResult]:
    """Store a batch of votes in ONE transaction (group commit: bench/vote_ingest.py), each with both
    conversations frozen as judged; one result per ballot, in order. Each ballot is decided on its own
    under its battle's row lock, so a refused one (someone else's, not ready, already voted) never
    fails the others, and two ballots on one battle (two tabs, same batch or not) store one vote.
    ``after_commit(stored vote ids)`` runs once, when they are really stored (the socket passes the
    quality checks' trigger). A database error raises: then nothing of the batch is stored."""
    try:
        return _store_votes(ballots, after_commit)
    except IntegrityError:
        # Two batches raced past the status check on a database without row locks: decide each alone.
        if len(ballots) == 1:
            return [BallotResult(ballots[0], error=_already_voted())]
        return [result for ballot in ballots for result in cast_votes(ballots=[ballot], after_commit=after_commit)]


def _already_voted() -> ArenaError:
    return ArenaError("already_voted", _("You have already voted in this battle."))


@transaction.atomic
def _store_votes(ballots: list[Ballot], after_commit: Callable[[list[int]], object] | None) -> list[BallotResult]:
    # Locked in key order, so two batches over the same battles wait for each other instead of deadlocking.
    battles = {battle.pk: battle for battle in Battle.objects.select_for_update().filter(
        pk__in={ballot.battle_id for ballot in ballots}).order_by("pk")}
    # Profiles read now (a socket's participant was read when it opened): the vote keeps who voted.
    voters = {row[0]: row for row in Participant.objects.filter(
        pk__in={ballot.participant_id for ballot in ballots}, deleted_at__isnull=True, user__is_active=True,
    ).order_by().values_list("pk", "basque_level", "education")}
    voted = [pk for pk, battle in battles.items() if battle.status == Battle.Status.VOTED]
    votes = {vote.battle_id: vote for vote in Vote.objects.filter(battle_id__in=voted).order_by()} if voted else {}
    for vote in votes.values():
        vote.battle = battles[vote.battle_id]  # read already: the reveal needs it
    results, new = [], {}
    for ballot in ballots:
        battle, voter = battles.get(ballot.battle_id), voters.get(ballot.participant_id)
        if voter is None:
            results.append(BallotResult(ballot, error=ArenaError(
                "account_gone", _("This account was deleted or deactivated."))))
        elif battle is None:
            results.append(BallotResult(ballot, error=ArenaError("not_found", _("This battle does not exist."))))
        elif battle.participant_id != ballot.participant_id:
            results.append(BallotResult(ballot, error=ArenaError("not_yours", _("This battle is not yours."))))
        elif battle.pk in votes:
            repeat = ballot.same_answers(votes[battle.pk])  # a retry whose answer was lost on the way
            results.append(BallotResult(ballot, vote=votes[battle.pk] if repeat else None, repeat=repeat,
                                        error=None if repeat else _already_voted()))
        elif battle.status != Battle.Status.READY:
            results.append(BallotResult(ballot, error=ArenaError("not_ready", _("This battle cannot be voted."))))
        else:
            votes[battle.pk] = new[battle.pk] = Vote(
                battle=battle, participant_id=ballot.participant_id, model_a_id=battle.model_a_id,
                model_b_id=battle.model_b_id, campaign_id=battle.campaign_id, content=ballot.content,
                language=ballot.language, overall=ballot.overall, basque_level=voter[1], education=voter[2])
            results.append(BallotResult(ballot, vote=new[battle.pk]))
    if new:
        Vote.objects.bulk_create(new.values())
        frozen = selectors.transcripts_of(battles[pk] for pk in new)  # final now: no more turns after a vote
        VoteTranscript.objects.bulk_create([VoteTranscript(vote=vote, side_a=frozen[str(pk)][0],
                                                           side_b=frozen[str(pk)][1]) for pk, vote in new.items()])
        Battle.objects.filter(pk__in=list(new)).update(status=Battle.Status.VOTED, updated_at=timezone.now())
        for pk in new:
            battles[pk].status = Battle.Status.VOTED
        if after_commit is not None:
            ids = [vote.pk for vote in new.values()]
            transaction.on_commit(lambda: after_commit(ids), robust=True)
    return results
