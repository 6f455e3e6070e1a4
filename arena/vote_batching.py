"""Votes over the battle socket, stored by group commit (issue #17: >= 500 votes/s on two cores).

A ``vote`` frame on the already-authenticated battle socket skips the HTTP stack (middleware, session,
user and participant reads: ~13 ms of CPU per vote, docs/load.md), and is stored together with the
votes the process's other sockets sent meanwhile. ``VoteBatcher`` collects ballots for at most
ARENA["VOTE_BATCH_MS"], or until MAX_BATCH, or while the previous batch is still in the database, then
makes ONE call in the loop's thread pool: ``services.cast_votes`` stores the whole batch in one
transaction (each ballot decided on its own, so one refused vote never fails the others), and after
the commit the reveals are built with the batch's reads done together. Each socket awaits its own
answer, which carries the page's ``request`` number:

    {"type": "voted", "request": n, "reveal": {...}}             the reveal the HTTP view answers with
    {"type": "error", "request": n, "code": ..., "message": ...}  the HTTP view's codes and messages

A repeat of a stored vote with the same answers is answered with the reveal again, so the page can fall
back to ``POST /battle/<id>/vote/`` whenever an answer does not come. A database error answers every
vote of its batch with ``retry``: its one transaction stored all of the batch or nothing.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from arena import selectors, services, tasks
from arena.forms import VoteForm
from config.async_db import in_db_thread

logger = logging.getLogger(__name__)

# Each of the vote form's answers and its valid choices (what VoteForm accepts, read from it once).
VALID_ANSWERS = {name: frozenset(str(value) for value, _label in field.choices)
                 for name, field in VoteForm.base_fields.items()}
MAX_BATCH = 200  # ballots per transaction: bounds its lock list and how long it holds them


@dataclass
class Answer:
    """What one ballot came to: the reveal of the stored vote, or the refusal."""

    reveal: dict | None = None
    error: services.ArenaError | None = None


async def vote_frame(participant, content: dict, language: str) -> dict:
    """The answer to a ``vote`` frame from ``participant``'s socket (``language``: the page's, for the
    reveal; refusals are translated here, in the socket's active language)."""
    request = content.get("request")
    if type(request) is not int:  # no number to answer to: the page cannot be waiting for this one
        return {"type": "error", "code": "bad_frame", "message": _("The message could not be read.")}
    answers = {name: content.get(name) for name in VoteForm.base_fields}
    if all(isinstance(answers[name], str) and answers[name] in choices for name, choices in VALID_ANSWERS.items()):
        cleaned = answers  # the usual case, without building a form (a deep copy of its fields) per vote
    elif (form := VoteForm(answers)).is_valid():
        cleaned = form.cleaned_data
    else:
        return {"type": "error", "request": request, "code": "invalid_vote", "message": _("Answer all three questions."),
                "fields": {name: [str(message) for message in messages] for name, messages in form.errors.items()}}
    try:
        battle_id = uuid.UUID(str(content.get("battle")))
    except ValueError:
        answer = Answer(error=services.ArenaError("not_found", gettext_lazy("This battle does not exist.")))
    else:
        ballot = services.Ballot(battle_id=battle_id, participant_id=participant.pk, **cleaned)
        answer = await batcher().submit(ballot, language)
    if answer.error is not None:
        return {"type": "error", "request": request, "code": answer.error.code, "message": str(answer.error.message)}
    return {"type": "voted", "request": request, "reveal": answer.reveal}


class VoteBatcher:
    """The ballots of one event loop's sockets, stored batch by batch with one batch in the database at a
    time: while one is stored the next one collects (group commit)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: list[tuple[services.Ballot, str, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.storing: asyncio.Task | None = None

    async def submit(self, ballot: services.Ballot, language: str) -> Answer:
        future = self.loop.create_future()
        self.pending.append((ballot, language, future))
        if len(self.pending) >= MAX_BATCH:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(settings.ARENA["VOTE_BATCH_MS"] / 1000, self.flush)
        return await future

    def flush(self) -> None:
        """Store what is pending now, or as soon as the batch in the database is done."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.storing is None or self.storing.done():
            self.storing = self.loop.create_task(self.store_pending())

    async def store_pending(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            if not self.pending and self.timer is not None:  # everything waiting goes now
                self.timer.cancel()
                self.timer = None
            answers = await self.store(batch)
            for (_ballot, _language, future), answer in zip(batch, answers):
                if not future.done():  # its socket may have closed meanwhile: the vote is stored all the same
                    future.set_result(answer)

    async def store(self, batch: list) -> list[Answer]:
        ballots, languages = [ballot for ballot, _l, _f in batch], [language for _b, language, _f in batch]
        try:
            return await in_db_thread(store_batch)(ballots, languages)
        except (OperationalError, InterfaceError):
            # Nothing of the batch was stored (or, if the reveals failed after the commit, a retry is a repeat).
            logger.warning("a batch of %d votes not stored: database unavailable", len(batch), exc_info=True)
            error = services.ArenaError("retry", gettext_lazy("Your vote could not be stored just now. Try again."))
        except Exception:  # a bug: the page falls back to the vote view
            logger.exception("a batch of %d votes failed", len(batch))
            error = services.ArenaError("server_error", gettext_lazy("Something went wrong on our side. Try again."))
        return [Answer(error=error) for _ in batch]


def store_batch(ballots: list[services.Ballot], languages: list[str]) -> list[Answer]:
    """One transaction for the batch, then each stored vote's reveal in its page's language."""
    board_state = selectors.published_board_state()  # the board before these votes (a refresh may follow)
    results = services.cast_votes(ballots=ballots, after_commit=queue_checks)
    answers = [Answer(error=result.error) for result in results]
    accepted = [k for k, result in enumerate(results) if result.vote is not None]
    for language in sorted({languages[k] for k in accepted}):
        chosen = [k for k in accepted if languages[k] == language]
        with translation.override(language):
            reveals = selectors.reveals([(results[k].vote.battle, ballots[k].overall) for k in chosen],
                                        board_state=board_state)
        for k, reveal in zip(chosen, reveals):
            answers[k].reveal = reveal
    return answers


def queue_checks(vote_ids: list[int]) -> None:
    """After the commit: the quality checks. ``tasks.vote_stored`` queues one checking batch that takes
    every vote not checked yet, so one call covers the whole batch (a call per vote would be a Redis
    round trip each)."""
    tasks.vote_stored(vote_ids[-1])


_batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batcher() -> VoteBatcher:
    """The running event loop's batcher (one per ASGI process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    if loop not in _batchers:
        _batchers[loop] = VoteBatcher(loop)
    return _batchers[loop]
