"""Writes about volunteers' accounts: sign-up, deletion (re-keying what stays), and closing the sockets
of an account that was deleted or deactivated."""
from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena.models import Battle, ConsentText, Message, Participant, Vote

from arena.services.errors import ArenaError

logger = logging.getLogger(__name__)


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


def acting_participant(participant: Participant) -> Participant:
    """The participant's row, locked until the transaction ends, while its account may still act: not
    deleted, its user present and active. A socket holds the participant it found when it opened,
    so every write a prompt makes checks again here. Locking serialises one volunteer's prompts
    across sockets and processes (on SQLite, IMMEDIATE transactions serialise all writers)."""
    # One query (it runs before every prompt): the row, locked, only while its user exists and is active.
    current = (Participant.objects.select_for_update(of=("self",))
               .filter(pk=participant.pk, deleted_at__isnull=True, user__is_active=True).first())
    if current is None:
        raise ArenaError("account_gone", _("This account was deleted or deactivated."))
    return current
