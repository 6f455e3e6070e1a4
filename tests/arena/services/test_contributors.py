"""Writes of a volunteer's board profile (arena/services/contributors.py)."""
from __future__ import annotations

import pytest

from arena import services
from arena.models import Participant
from arena.services.contributors import set_board_profile
from tests.arena.conftest import make_participant

pytestmark = pytest.mark.django_db


def test_sets_the_nickname_and_the_opt_in():
    ane = make_participant("ane")
    set_board_profile(participant=ane, nickname=" Itsaso ", show_on_board=True)
    assert Participant.objects.filter(pk=ane.pk, nickname="Itsaso", show_on_board=True).exists()
    set_board_profile(participant=ane, nickname="Itsaso", show_on_board=False)  # opting out keeps the nickname
    assert Participant.objects.filter(pk=ane.pk, nickname="Itsaso", show_on_board=False).exists()


@pytest.mark.parametrize("nickname, show, code", [
    ("a b", True, "bad_nickname"), ("puta", True, "bad_nickname"), ("", True, "bad_nickname"),
    ("ITSASO", True, "nickname_taken"),
])
def test_a_refusal_changes_nothing(nickname, show, code):
    make_participant("jon")
    Participant.objects.filter(user__username="jon").update(nickname="Itsaso")
    ane = make_participant("ane")
    Participant.objects.filter(pk=ane.pk).update(nickname="Lehengoa")
    with pytest.raises(services.ArenaError) as refused:
        set_board_profile(participant=ane, nickname=nickname, show_on_board=show)
    assert refused.value.code == code
    assert Participant.objects.filter(pk=ane.pk, nickname="Lehengoa", show_on_board=False).exists()


def test_a_deleted_account_cannot_set_a_nickname():
    ane = make_participant("ane")
    services.delete_participant(participant=ane)
    with pytest.raises(services.ArenaError) as refused:
        set_board_profile(participant=ane, nickname="Mamua", show_on_board=True)
    assert refused.value.code == "account_gone"
    assert not Participant.objects.filter(nickname="Mamua").exists()
