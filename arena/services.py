"""Writes: sign-up, battles, messages, votes and account deletion.

Every state change of a battle goes through here, guarded by row locks and status checks, so a
double submit or a race between two tabs can never store two votes or vote a failed battle.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena import sampling, selectors
from arena.models import ArenaConfig, Battle, ConsentText, ExportJob, Message, Participant, Vote, VoteTranscript
from arena.vocabulary import Side

logger = logging.getLogger(__name__)


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
    """Remove the account and personal fields; battles and votes stay, re-keyed so that nothing the
    volunteer or anyone else held before leads to them: a new random public id (so exports hash
    them differently from now on) and new battle ids (those in the volunteer's data download and in
    earlier exports match nothing). What stays is the study's record: the conversations' text, the
    votes and their times, with the Basque level and education (templates/arena/my_data.html says so).
    The volunteer's open sockets are closed once this commits."""
    locked = Participant.objects.select_for_update().filter(pk=participant.pk, deleted_at__isnull=True)
    if not locked.exists():
        participant.refresh_from_db()
        return  # deleted already (a double submit)
    participant.refresh_from_db()
    user_id, sockets = participant.user_id, participant_group(participant.public_id)
    participant.user = None
    participant.dialect_area = ""
    participant.age_band = ""
    participant.deleted_at = timezone.now()
    participant.public_id = uuid.uuid4()
    participant.save()
    # Prompts are the volunteer's own words: keep them for the study, as consented, but abandon
    # anything still open so it can never be voted on behalf of a deleted account.
    participant.battles.filter(status__in=Battle.OPEN_STATUSES).update(status=Battle.Status.ABANDONED)
    _rekey_battles(participant)
    if user_id is not None:
        get_user_model().objects.filter(pk=user_id).delete()
    transaction.on_commit(lambda: announce_account_gone(sockets), robust=True)


REKEY_BATCH = 500


def _rekey_battles(participant: Participant) -> None:
    """Give each of the participant's battles a new random id, in the battle and in the rows that
    refer to it. The foreign keys are checked at commit (deferred), when every row points to the new id."""
    old_ids = list(participant.battles.values_list("pk", flat=True))
    for start in range(0, len(old_ids), REKEY_BATCH):
        new_ids = {old: uuid.uuid4() for old in old_ids[start:start + REKEY_BATCH]}

        def renamed(column: str):
            return models.Case(*(models.When(**{column: old}, then=models.Value(new))
                                 for old, new in new_ids.items()), output_field=models.UUIDField())

        Battle.objects.filter(pk__in=new_ids).update(id=renamed("id"))
        Message.objects.filter(battle_id__in=new_ids).update(battle_id=renamed("battle_id"))
        Vote.objects.filter(battle_id__in=new_ids).update(battle_id=renamed("battle_id"))


def participant_group(public_id) -> str:
    """The channel-layer group of a participant's open sockets (arena/consumers.py joins it). Named by
    the random public id, not the row id, so sites or test runs sharing a Redis never cross."""
    return f"arena.participant.{uuid.UUID(str(public_id)).hex}"


def announce_account_gone(group: str) -> None:
    """Tell the sockets in ``group`` (participant_group), in every ASGI process, to close (after a
    deletion or a deactivation has committed). Best effort: every prompt re-checks the account anyway."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "account.gone"})
    except Exception:
        logger.exception("could not tell the sockets of %s to close", group)


def user_account_changed(*, user_id: int, active: bool) -> None:
    """A user was saved or removed outside this module (the admin's user pages): when the account can
    no longer act, close its participant's sockets once that commits."""
    if active:
        return
    public_id = Participant.objects.filter(user_id=user_id).values_list("public_id", flat=True).first()
    if public_id is not None:
        sockets = participant_group(public_id)
        transaction.on_commit(lambda: announce_account_gone(sockets), robust=True)


def _user_saved(sender, instance, created, raw=False, **kwargs):
    if not created and not raw and not instance.is_active:
        user_account_changed(user_id=instance.pk, active=False)


def _user_deleted(sender, instance, **kwargs):
    user_account_changed(user_id=instance.pk, active=False)


def connect_account_signals() -> None:
    """Deactivating or removing a user anywhere (the admin's user pages, a shell) closes the
    participant's sockets: called once from ``arena.apps.ArenaConfig.ready``."""
    models.signals.post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="arena.user_saved")
    models.signals.pre_delete.connect(_user_deleted, sender=settings.AUTH_USER_MODEL,
                                      dispatch_uid="arena.user_deleted")


def _acting_participant(participant: Participant) -> Participant:
    """The participant's row, locked until the transaction ends, while its account may still act: not
    deleted, its user present and active. A socket holds the participant it found when it opened,
    so every write a prompt makes checks again here. Locking serialises one volunteer's prompts
    across sockets and processes (on SQLite, IMMEDIATE transactions serialise all writers)."""
    current = Participant.objects.select_for_update().filter(pk=participant.pk).first()
    user_model = get_user_model()
    if (current is None or current.deleted_at is not None or current.user_id is None
            or not user_model.objects.filter(pk=current.user_id, is_active=True).exists()):
        raise ArenaError("account_gone", _("This account was deleted or deactivated."))
    return current


# ---------------------------------------------------------------- battles

@transaction.atomic
def start_battle(*, participant: Participant) -> Battle:
    """Draw two different active, healthy models and freeze their settings into a new battle."""
    _acting_participant(participant)
    return _start_battle(participant)


def _start_battle(participant: Participant) -> Battle:
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
    """A battle left without a vote (a new battle, a turn cut by a disconnect before both sides had
    answered: see arena/consumers.py) can no longer be voted."""
    Battle.objects.filter(pk=battle_id, status__in=Battle.OPEN_STATUSES).update(
        status=Battle.Status.ABANDONED, updated_at=timezone.now()
    )


def check_prompt(*, participant: Participant, text) -> str:
    """Validate a prompt and (as an early answer) the volunteer's rate limit; return the cleaned text
    (writes nothing). Not a guarantee: two sockets can both pass here. ``begin_turn`` and
    ``submit_prompt`` enforce the limit, counting and storing under the participant's row lock."""
    text = clean_prompt(text)
    _check_rate(participant)
    return text


def clean_prompt(text) -> str:
    """The prompt stripped, or a refusal when it is empty, not text, or too long."""
    limits = settings.ARENA
    if not isinstance(text, str) or not text.strip():
        raise ArenaError("empty_prompt", _("Write a question or message first."))
    text = text.strip()
    if len(text) > limits["PROMPT_MAX_CHARS"]:
        raise ArenaError(
            "prompt_too_long",
            _("The message is too long (at most %(limit)d characters).") % {"limit": limits["PROMPT_MAX_CHARS"]},
        )
    return text


def _check_rate(participant: Participant) -> None:
    """Refuse a prompt beyond PROMPTS_PER_MINUTE in the last minute, over all the volunteer's battles."""
    since = timezone.now() - timedelta(seconds=60)
    recent = Message.objects.filter(
        battle__participant_id=participant.pk, role=Message.Role.USER, created_at__gte=since
    ).count()
    if recent >= settings.ARENA["PROMPTS_PER_MINUTE"]:
        raise ArenaError("rate_limited", _("You are sending messages too fast. Wait a minute and try again."))


@dataclass
class TurnPlan:
    """What the consumer needs to stream one turn: the message lists per side."""

    turn: int
    messages_a: list[dict]
    messages_b: list[dict]


@transaction.atomic
def begin_turn(*, battle_id, participant: Participant, text: str) -> TurnPlan:
    """Store the user's prompt and move the battle to 'answering'; each side is then sent its conversation.

    The account check, the rate limit's count and the insert happen in one transaction under the
    participant's row lock, so prompts sent at once from many sockets or processes are counted one
    after the other: exactly PROMPTS_PER_MINUTE get through."""
    _acting_participant(participant)
    _check_rate(participant)
    return _begin_turn(battle_id, participant, text)


def _begin_turn(battle_id, participant: Participant, text: str) -> TurnPlan:
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


@dataclass
class AcceptedPrompt:
    """A stored prompt: its battle (new when ``new_battle``) and the turn to stream."""

    battle_id: object
    new_battle: bool
    plan: TurnPlan


@transaction.atomic
def submit_prompt(*, participant: Participant, battle_id, text) -> AcceptedPrompt:
    """A prompt from the battle socket, all or nothing: validate it, check the account and the rate
    limit under the participant's row lock, start a battle when there is none (``battle_id`` None),
    store the prompt. A refusal leaves nothing behind, not even an empty battle."""
    text = clean_prompt(text)
    _acting_participant(participant)
    _check_rate(participant)  # under the lock, and before drawing a pair for a prompt that would be refused
    new_battle = battle_id is None
    if new_battle:
        battle_id = _start_battle(participant).pk
    plan = _begin_turn(battle_id, participant, text)
    return AcceptedPrompt(battle_id=battle_id, new_battle=new_battle, plan=plan)


@transaction.atomic
def record_answer(*, battle_id, turn: int, side: str, content: str, finish_reason: str, error: str = "",
                  token_count: int = 0, ttft_ms: int | None = None, duration_ms: int | None = None) -> None:
    if not Battle.objects.select_for_update().filter(pk=battle_id).exists():
        return  # re-keyed while streaming: the account was deleted (delete_participant)
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
    battle = Battle.objects.select_for_update().filter(pk=battle_id).first()
    if battle is None:
        return Battle.Status.ABANDONED  # re-keyed while streaming: the account was deleted
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


# ---------------------------------------------------------------- research exports

EXPORT_PROGRESS_SECONDS = 2.0  # how often a running export writes how far it got


def request_export(*, user, options, matching_votes: int, after_commit: Callable[[str], object]) -> ExportJob:
    """Queue a Researchers-page export too big to stream in the request (``options``: a validated
    ``arena.export.ExportOptions``); ``after_commit(job id)`` runs once the job is stored (the view
    passes the export task's ``delay``)."""
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=user, options=options.describe(), matching_votes=matching_votes)
        job_id = str(job.pk)
        transaction.on_commit(lambda: after_commit(job_id), robust=True)
    return job


def run_export_job(*, job_id) -> ExportJob:
    """Build a queued export's zip into ``DATA_DIR/exports/<job id>.zip`` (the export task's body).
    Runs once: a job that is no longer queued (a redelivered task) is left as it is. A failure is
    recorded on the job (and logged); no partial file stays."""
    from arena.export import Export, ExportForm  # heavy (pyarrow on demand): only where exports run

    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ExportJob.Status.QUEUED:
            return job
        job.status = ExportJob.Status.RUNNING
        job.save(update_fields=["status"])
    folder = ExportJob.folder()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{job.pk}.zip"
    partial = folder / f"{job.pk}.zip.part"
    progress = _ExportProgress(job.pk)
    try:
        form = ExportForm(data=job.options)
        if not form.is_valid():  # e.g. a model renamed since it was asked
            raise ValueError(f"the export's options are no longer valid: {form.error_dict()}")
        export = Export(form.to_options())
        with partial.open("wb") as output:
            for chunk in export.iter_zip():
                output.write(chunk)
                progress.report(export.stats.votes)
        partial.replace(final)
    except Exception as exc:
        progress.close()
        partial.unlink(missing_ok=True)
        logger.exception("export %s by user %s FAILED", job.pk, job.requested_by_id)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
    else:
        progress.close()
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE, file_name=final.name, download_name=export.download_name,
            size_bytes=final.stat().st_size, votes_done=export.stats.votes, finished_at=timezone.now())
        logger.info("export %s by user %s done: %d votes, %d bytes", job.pk, job.requested_by_id,
                    export.stats.votes, final.stat().st_size)
    job.refresh_from_db()
    return job


class _ExportProgress:
    """Writes a running export's vote count every EXPORT_PROGRESS_SECONDS from its own thread and
    database connection: while an export runs, its reader thread uses this thread's connection
    (arena/export/source.py), so this thread must stay off it."""

    def __init__(self, job_id):
        import threading

        self._job_id = job_id
        self._votes = 0
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-progress", daemon=True)
        self._thread.start()

    def report(self, votes: int) -> None:
        self._votes = votes
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        written = 0
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed.is_set():
                    return
                if self._votes != written:
                    written = self._votes
                    ExportJob.objects.filter(pk=self._job_id).update(votes_done=written)
                if self._closed.wait(EXPORT_PROGRESS_SECONDS):
                    return
        except Exception:  # progress is a courtesy: never fail the export over it
            logger.exception("export %s: could not write its progress", self._job_id)
        finally:
            connection.close()  # this thread's own connection
