"""The Researchers page's reactions table (model × kind) and its CSV; the export form's personal-data option."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from arena.models import Battle, Message, Reaction
from tests.arena.factories import ready_battle

PAGE = reverse("arena:research")


def researcher_client() -> Client:
    group, _ = Group.objects.get_or_create(name="researchers")
    group.permissions.add(Permission.objects.get(codename="export_votes", content_type__app_label="arena"))
    user = get_user_model().objects.create_user(username="ikertzailea")
    user.groups.add(group)
    client = Client()
    client.cookies["arena_language"] = "en"
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_reactions_counted_per_model_and_kind(participant, echo_models):
    alfa, beta = echo_models
    first = ready_battle(participant, echo_models)  # Alfa is A
    second = ready_battle(participant, [beta, alfa])  # Alfa is B
    hidden = ready_battle(participant, echo_models)
    Battle.objects.filter(pk=hidden.pk).update(hidden=True)

    def react(battle, side, kind):
        message = Message.objects.get(battle=battle, side=side, role="assistant")
        Reaction.objects.create(message=message, participant=participant, kind=kind)

    react(first, "A", "useful")
    react(second, "B", "useful")
    react(second, "B", "bad_basque")
    react(second, "A", "wrong")
    react(hidden, "A", "wrong")  # hidden by a moderator: not counted
    client = researcher_client()
    page = client.get(PAGE).content.decode()
    assert "Reactions per model" in page and "Mixes languages" in page and "?csv=reactions" in page
    assert 'name="include_personal_data"' in page
    response = client.get(PAGE, {"csv": "reactions"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_model = {row["model"]: row for row in rows}
    assert by_model[alfa.public_name]["useful"] == "2" and by_model[alfa.public_name]["bad_basque"] == "1"
    assert by_model[alfa.public_name]["wrong"] == "0" and by_model[alfa.public_name]["total"] == "3"
    assert by_model[beta.public_name]["wrong"] == "1" and by_model[beta.public_name]["total"] == "1"


@pytest.mark.django_db
def test_reactions_csv_needs_the_permission(participant):
    client = Client()
    client.force_login(get_user_model().objects.create_user(username="ez-ikertzailea"))
    response = client.get(PAGE, {"csv": "reactions"})
    assert response.status_code == 403 and not response["Content-Type"].startswith("text/csv")
