"""One vocabulary (arena/vocabulary.py): the votes, the leaderboard and the exports name things alike."""
from __future__ import annotations

import pytest
from django.utils import translation

from arena.export.options import ExportForm
from arena.models import Vote
from arena.views.leaderboard import LeaderboardFilterForm
from arena.vocabulary import DIMENSIONS, Choice, Dimension, ExclusionReason, OverallChoice, exclusion_label


def test_each_dimension_is_a_vote_field_answered_with_the_vocabulary_choices():
    assert DIMENSIONS == ("overall", "content", "language")
    for name in DIMENSIONS:
        expected = OverallChoice if name == Dimension.OVERALL else Choice
        assert Vote._meta.get_field(name).choices == expected.choices


@pytest.mark.django_db
def test_the_leaderboard_and_the_exports_label_dimensions_alike():
    with translation.override("en"):
        leaderboard = dict(LeaderboardFilterForm().fields["dimension"].choices)
        export = dict(ExportForm().fields["dimension"].choices)
        assert {name: str(leaderboard[name]) for name in DIMENSIONS} == {
            "overall": "Overall", "content": "Content", "language": "Basque quality"}
        assert {name: str(export[name]) for name in DIMENSIONS} == {name: str(leaderboard[name]) for name in DIMENSIONS}


def test_reason_labels_are_translated_and_unknown_codes_read_as_manual():
    with translation.override("eu"):
        assert str(exclusion_label("manual")) == "administratzaile batek baztertua"
        assert str(exclusion_label("too_fast")) == str(exclusion_label(ExclusionReason.MANUAL))
    with translation.override("en"):
        assert str(exclusion_label("too_short")) == "answers too short"
