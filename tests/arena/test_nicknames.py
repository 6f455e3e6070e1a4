"""Public nicknames (arena/nicknames.py): allowed characters and length, offensive and reserved
words, and the form's checks against taken nicknames and the volunteer's own username."""
from __future__ import annotations

import pytest
from django.utils import translation

from arena.models import Participant
from arena.nicknames import BoardProfileForm, nickname_problem
from tests.arena.conftest import make_participant


@pytest.fixture(autouse=True)
def english():
    """The rules' messages are checked in English (the catalogues translate them)."""
    with translation.override("en"):
        yield


@pytest.mark.parametrize("nickname", ["ane", "Ane_77", "jon-patxi", "Ñandú.eus", "x" * 40, "Mendizale.2026",
                                      "computo", "nazioartekoa", "Arantxa"])
def test_good_nicknames_pass(nickname):
    assert nickname_problem(nickname) is None


@pytest.mark.parametrize("nickname", ["ab", "x" * 41, "ane etxeberria", "ane@example.org", "<b>ane</b>", "ane!",
                                      "ane/jon", ""])
def test_wrong_shape_is_refused_with_the_rule(nickname):
    assert "3 to 40" in str(nickname_problem(nickname))


@pytest.mark.parametrize("nickname", ["fuck_you", "FuCk", "puta", "Puta.2", "sh1t", "x-nazi-x", "hijo.de.puta"])
def test_offensive_nicknames_are_refused(nickname):
    assert "not appropriate" in str(nickname_problem(nickname))


@pytest.mark.parametrize("nickname", ["admin", "Admin-2", "4dm1n", "moderatzailea", "arena_official"])
def test_reserved_nicknames_are_refused(nickname):
    assert "reserved" in str(nickname_problem(nickname))


@pytest.mark.django_db
def test_form_refuses_a_taken_nickname_ignoring_case_but_keeps_ones_own():
    ane = make_participant("ane")
    jon = make_participant("jon")
    Participant.objects.filter(pk=ane.pk).update(nickname="Itsaso")
    ane.refresh_from_db()
    form = BoardProfileForm({"nickname": "itsaso", "show_on_board": "on"}, participant=jon)
    assert not form.is_valid() and "already taken" in form.errors["nickname"][0]
    assert BoardProfileForm({"nickname": "Itsaso", "show_on_board": "on"}, participant=ane).is_valid()


@pytest.mark.django_db
def test_form_refuses_the_username_and_opting_in_without_a_nickname():
    jon = make_participant("jon_gaztea")
    form = BoardProfileForm({"nickname": "JON_GAZTEA"}, participant=jon)
    assert not form.is_valid() and "username" in form.errors["nickname"][0]
    form = BoardProfileForm({"nickname": "", "show_on_board": "on"}, participant=jon)
    assert not form.is_valid() and "Choose a nickname" in form.errors["nickname"][0]
    form = BoardProfileForm({"nickname": "  ", "show_on_board": ""}, participant=jon)
    assert form.is_valid() and form.cleaned_data == {"nickname": "", "show_on_board": False}
