"""The agreement page (arena/views/research.py:agreement_page): researchers only, tables and CSVs."""
from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from tests.arena.factories import add_votes, make_models, make_voter, synthetic_rows

URL = reverse("arena:research_agreement")


def client_for(username: str, *, researcher: bool) -> Client:
    user = get_user_model().objects.create_user(username=username)
    if researcher:
        group, _ = Group.objects.get_or_create(name="researchers")
        group.permissions.add(Permission.objects.get(codename="export_votes", content_type__app_label="arena"))
        user.groups.add(group)
    client = Client()
    client.cookies["arena_language"] = "en"
    client.force_login(user)
    return client


@pytest.fixture
def votes(db):
    models = make_models(4)
    rng = np.random.default_rng(4)
    for level in ("B1-B2", "C1-C2"):
        rows, *_ = synthetic_rows(models, np.linspace(-1, 1, 4), 300, rng)
        add_votes(rows, participant=make_voter(basque_level=level))


def test_only_researchers_see_it(votes):
    assert Client().get(URL).status_code == 302
    assert client_for("boluntarioa", researcher=False).get(URL).status_code == 403


def test_page_shows_the_four_analyses_and_each_downloads_as_csv(votes):
    client = client_for("ikertzailea", researcher=True)
    page = client.get(URL)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Cohen's kappa" in html and "B1-B2 – C1-C2" in html and "shown on the left won" in html
    assert "2 volunteers voted" in html
    questions = client.get(URL, {"csv": "questions"})
    assert questions["Content-Type"].startswith("text/csv")
    lines = questions.content.decode().splitlines()
    assert lines[0].startswith("first,second,votes,agreement,kappa") and len(lines) == 4
    assert client.get(URL, {"csv": "groups"}).content.decode().count("\n") == 2
    assert client.get(URL, {"csv": "position"}).content.decode().startswith("decisive_votes,left_wins")
    assert client.get(URL, {"csv": "judges"}).status_code == 200
    assert client.get(URL, {"csv": "everything"}).status_code == 400
