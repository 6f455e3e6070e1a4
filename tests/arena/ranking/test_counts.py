"""Vote counts per pair and outcome (arena/ranking/counts.py): sides, ties, "both bad", filters, exclusions."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from arena.ranking.counts import VoteFilters, count_votes
from tests.arena.factories import add_votes, make_models, make_voter


@pytest.mark.django_db
def test_counts_follow_sides_ties_and_both_bad_setting():
    m1, m2, m3 = make_models(3)
    add_votes([
        (m1, m2, "A", "B", "A"),  # m1 beats m2 on content and overall, loses on language
        (m2, m1, "A", "tie", "B"),  # content: m2 beats m1; overall: m1 beats m2 (from side B)
        (m2, m3, "tie", "tie", "both_bad"),
    ])
    counted = count_votes(VoteFilters())
    overall = counted.dimensions["overall"]
    assert overall.model_ids == [m1.pk, m2.pk, m3.pk]
    # pairs in order (m1, m2), (m1, m3), (m2, m3); columns: i wins, tie, j wins
    assert overall.counts.tolist() == [[2, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert count_votes(VoteFilters()).dimensions["content"].counts.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    strict = count_votes(VoteFilters(), both_bad_as_tie=False).dimensions["overall"]
    assert strict.model_ids == [m1.pk, m2.pk] and strict.dropped_both_bad == 1


@pytest.mark.django_db
def test_filters_select_votes_by_group_date_and_flag():
    m1, m2 = make_models(2)
    learner = make_voter(basque_level="A1-A2", education="secondary")
    native = make_voter(basque_level="native", education="postgraduate")
    old = timezone.make_aware(dt.datetime(2026, 1, 10, 12, 0))
    add_votes([(m1, m2, "A", "A", "A")] * 3, participant=learner, when=old)
    add_votes([(m1, m2, "B", "B", "B")] * 2, participant=native)
    add_votes([(m1, m2, "B", "B", "B")] * 4, participant=native, excluded=True, reasons=["identity_leak", "too_short"])
    add_votes([(m1, m2, "B", "B", "B")], participant=native, excluded=True, reasons=["daily_cap"])

    def total(**filters):
        return count_votes(VoteFilters(**filters)).dimensions["overall"].total

    assert total() == 5
    assert total(include_flagged=True) == 10
    assert total(basque_level="A1-A2") == 3
    assert total(education="postgraduate") == 2
    assert total(date_to=dt.date(2026, 1, 10)) == 3
    assert total(date_from=dt.date(2026, 1, 11)) == 2
    assert total(date_from=dt.date(2026, 1, 10), date_to=dt.date(2026, 1, 10), basque_level="native") == 0
    counted = count_votes(VoteFilters())
    assert counted.excluded_total == 5
    assert counted.excluded_by_reason == {"identity_leak": 4, "too_short": 4, "daily_cap": 1}
    assert count_votes(VoteFilters(basque_level="A1-A2")).excluded_total == 0


@pytest.mark.django_db
def test_exclusions_are_counted_by_vocabulary_reason_once_per_vote():
    m1, m2 = make_models(2)
    row = [(m1, m2, "A", "A", "A")]
    for reasons in (["manual"], [], ["too_fast"], ["too_fast", "manual"], ["identity_leak", "manual"]):
        add_votes(row, excluded=True, reasons=reasons)
    counted = count_votes(VoteFilters())
    # No reason, or one the vocabulary does not know (old data): an administrator's exclusion.
    assert counted.excluded_total == 5
    assert counted.excluded_by_reason == {"manual": 5, "identity_leak": 1}
