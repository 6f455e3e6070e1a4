"""Migrations: self-contained (no live app code), in step with the models, and 0004's frozen copy of
the conversation rule gives what the service freezes."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

from arena import services
from arena.models import Message, Vote, VoteTranscript
from tests.arena.factories import two_turn_battle

MIGRATIONS = sorted((Path(__file__).resolve().parents[2] / "arena" / "migrations").glob("0*.py"))
PROJECT_PACKAGES = {"arena", "config", "evaluation", "models_serving", "training"}


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.stem)
def test_a_migration_imports_no_project_code(path):
    """A migration runs against the historical models forever: live code it imported could change under it."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not {name for name in imported if name.split(".")[0] in PROJECT_PACKAGES}


def test_there_are_migrations_to_check():
    assert len(MIGRATIONS) >= 4


@pytest.mark.django_db
def test_the_models_need_no_new_migration():
    call_command("makemigrations", "arena", check_changes=True, dry_run=True, verbosity=0)  # exits non-zero otherwise


@pytest.mark.django_db
def test_0004_freezes_votes_cast_before_it_as_the_service_does(participant, echo_models):
    freeze_migration = importlib.import_module("arena.migrations.0004_vote_transcripts")
    battles = [two_turn_battle(participant, echo_models) for _ in range(3)]
    Message.objects.filter(battle=battles[1], turn=1, side="A").update(content="")  # an answer stopped at once
    for battle in battles:
        services.cast_vote(battle_id=battle.pk, participant=participant, content="A", language="A", overall="A")
    frozen = {row.pk: (row.side_a, row.side_b) for row in VoteTranscript.objects.all()}
    assert len(frozen) == 3 and '"content":""' in frozen[Vote.objects.get(battle=battles[1]).pk][0]
    VoteTranscript.objects.filter(pk__in=list(frozen)[:2]).delete()
    freeze_migration.BATCH = 1  # several batches, as on a big database
    try:
        freeze_migration.freeze_existing(apps, None)
    finally:
        freeze_migration.BATCH = 1000
    assert {row.pk: (row.side_a, row.side_b) for row in VoteTranscript.objects.all()} == frozen


@pytest.mark.django_db
def test_0012_puts_earlier_votes_in_a_default_campaign_and_sums_their_styles():
    from arena.models import AnswerStyle, Battle, Campaign, VoteStyle
    from tests.arena.factories import add_votes, make_models

    migration = importlib.import_module("arena.migrations.0012_campaigns_feedback_vote_style")
    migration.default_campaign(apps, None)
    assert not Campaign.objects.exists()  # a new site gets no campaign: the arena stays open
    m1, m2 = make_models(2)
    votes = add_votes([(m1, m2, "A", "A", "A"), (m2, m1, "B", "B", "B")])
    for turn in range(2):
        message = Message.objects.create(battle=votes[0].battle, turn=turn, role="assistant", side="B", content="x")
        AnswerStyle.objects.create(message=message, battle=votes[0].battle, side="B", tokens=4 + turn, bold=1)
    migration.default_campaign(apps, None)
    migration.vote_styles(apps, None)
    campaign = Campaign.objects.get(slug="default")
    assert set(Vote.objects.values_list("campaign", flat=True)) == {campaign.pk}
    assert set(Battle.objects.values_list("campaign", flat=True)) == {campaign.pk}
    assert campaign.starts_at <= min(v.battle.created_at for v in votes) and campaign.ends_at.year == 2100
    style = VoteStyle.objects.get()
    assert (style.vote_id, style.tokens_a, style.tokens_b, style.bold_b) == (votes[0].pk, 0, 9, 2)
