"""Near-duplicate prompts (arena/duplicates.py, services.labels.reweight_duplicates): found, capped."""
from __future__ import annotations

import pytest
from django.urls import reverse

from arena import duplicates, ranking
from arena.models import Message, PromptLabel, Vote
from arena.ranking.counts import VoteFilters
from arena.services import labels
from tests.arena.factories import add_votes, make_models

QUESTION = "Zein da Euskal Herriko mendirik altuena eta zenbat metro ditu gailurrak itsas mailaren gainetik?"


def test_light_edits_cluster_and_different_prompts_do_not():
    signatures = {
        1: duplicates.signature(QUESTION),
        2: duplicates.signature(QUESTION.upper() + "  "),  # case and spacing do not matter
        3: duplicates.signature(QUESTION.replace("altuena", "altuena,")),  # nor punctuation
        4: duplicates.signature("Nola prestatzen da marmitakoa etxean, urratsez urrats eta osagai guztiekin?"),
        5: duplicates.signature(""),
    }
    assert [sorted(group) for group in duplicates.clusters(signatures)] == [[1, 2, 3]]


@pytest.mark.django_db
def test_a_copied_question_counts_at_most_cap_votes_and_the_page_says_so(fresh_ranking_cache, client):
    m1, m2 = make_models(2)
    copied = add_votes([(m1, m2, "A", "A", "A")] * 30)  # spam: one question voted 30 times for m1
    unique = add_votes([(m1, m2, "B", "B", "B")] * 10)
    for k, vote in enumerate(copied + unique):
        prompt = QUESTION if k < 30 else f"Galdera desberdin bat zenbaki honekin: {k} eta gai honi buruz {k * 7}."
        Message.objects.create(battle=vote.battle, turn=0, role="user", content=prompt)
        labels.label_battle(battle_id=vote.battle_id)
    report = labels.reweight_duplicates(cap=5)
    assert (report.clusters, report.prompts, report.capped_votes) == (1, 30, 30)
    assert set(Vote.objects.filter(pk__in=[v.pk for v in copied]).values_list("weight", flat=True)) == {5 / 30}
    assert PromptLabel.objects.get(battle=copied[0].battle).duplicates == 30
    board = ranking.build_leaderboard(VoteFilters(), rounds=0)
    assert board.total_votes == 15 and board.capped_votes == 30  # 30 copies count as 5, plus 10 unique
    winner = board.boards["overall"].scores[0]
    assert winner.model_id == m2.pk  # without the cap, m1's 30 copies would win
    client.cookies["arena_language"] = "en"
    page = client.get(reverse("arena:leaderboard")).content.decode()
    assert "30 votes on near-duplicate prompts (copied questions) count as 5 in all." in page

    assert labels.reweight_duplicates(cap=100).capped_votes == 0  # a higher cap restores the weights
    assert set(Vote.objects.values_list("weight", flat=True)) == {1.0}
