"""Instruction filters: each removes what it should and reports seen/removed counts."""
from __future__ import annotations

import pytest

from training.instruction_filters import (
    FilterReport, Item, LanguageIdentifier, apply_filter, drop_exact_duplicates, drop_near_duplicates, normalise,
)


def test_duplicates_are_dropped_and_reported():
    reports: list[FilterReport] = []
    items = [Item("Zein da Euskal Herriko mendirik altuena gaur egun?"),
             Item("zein da euskal herriko mendirik altuena gaur egun"),  # exact after normalisation
             Item("Zein da Euskal Herriko mendirik altuena gaur egun, mesedez?"),  # near duplicate
             Item("Idatzi olerki bat itsasoari buruz.")]
    items = drop_exact_duplicates(items, reports)
    items = drop_near_duplicates(items, 0.7, reports)
    assert [(r.name, r.seen, r.removed, r.kept) for r in reports] == [("exact_duplicate", 4, 1, 3),
                                                                      ("near_duplicate", 3, 1, 2)]
    assert [i.instruction for i in items] == ["Zein da Euskal Herriko mendirik altuena gaur egun?",
                                              "Idatzi olerki bat itsasoari buruz."]


def test_near_duplicate_threshold_is_respected():
    items = [Item("bat bi hiru lau bost"), Item("bat bi hiru lau sei")]  # 3-gram Jaccard 2/4 = 0.5
    assert len(drop_near_duplicates(items, 0.6, [])) == 2
    assert len(drop_near_duplicates(items, 0.5, [])) == 1


def test_apply_filter_and_normalise():
    reports: list[FilterReport] = []
    kept = apply_filter([Item("a"), Item(""), Item("b")], "instruction_empty", lambda i: bool(i.instruction), reports)
    assert [i.instruction for i in kept] == ["a", "b"] and reports == [FilterReport("instruction_empty", 3, 1)]
    assert normalise("  KAIXO, Mundua!! ") == "kaixo mundua"


@pytest.fixture(scope="module")
def language_id():
    return LanguageIdentifier()


@pytest.mark.parametrize("text, language", [
    ("Zein da Euskal Herriko mendirik altuena?", "eu"),
    ("Which is the highest mountain in the Basque Country?", "en"),
    ("¿Cuál es la montaña más alta del País Vasco?", "es"),
])
def test_language_identifier(language_id, text, language):
    assert language_id.identify(text) == language
