"""Prompt labels in batches (arena/services/labels.py:label_battles): a few queries for a whole batch,
each distinct prompt labelled once, and labelling again replaces the labels."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arena import categories, duplicates
from arena.models import Category, Message, PromptLabel
from arena.services import labels
from tests.arena.factories import add_votes, make_models

CODING = "Nola idatz dezaket Python programa bat lista bat ordenatzeko?"


class CountingLabeller(categories.KeywordLabeller):
    """The keyword rules, recording every prompt it is asked about."""

    asked: list[str] = []

    def label(self, text, categories):
        self.asked.append(text)
        return super().label(text, categories)


def topics(prompt: str) -> list[str]:
    return categories.KeywordLabeller().label(prompt, Category.objects.filter(is_active=True))


@pytest.fixture
def counting_labeller(settings):
    settings.ARENA = {**settings.ARENA, "PROMPT_LABELLER": f"{__name__}.CountingLabeller"}
    CountingLabeller.asked.clear()
    return CountingLabeller.asked


def voted_prompts(prompts: list[str | None]) -> list[int]:
    """A voted battle per prompt (None: a battle without one); their ids."""
    m1, m2 = make_models(2)
    votes = add_votes([(m1, m2, "A", "A", "A")] * len(prompts))
    for vote, prompt in zip(votes, prompts):
        if prompt is not None:
            Message.objects.create(battle=vote.battle, turn=1, role="user", content="Eta gehiago?")
            Message.objects.create(battle=vote.battle, turn=0, role="user", content=prompt)
    return [vote.battle_id for vote in votes]


@pytest.mark.django_db
def test_a_batch_labels_each_distinct_first_prompt_once_in_a_few_queries(counting_labeller):
    spanish = [f"¿Cuál es la mejor receta de marmitako número {k} para la cena?" for k in range(10)]
    battle_ids = voted_prompts([CODING] * 30 + spanish + [None])
    with CaptureQueriesContext(connection) as captured:
        assert labels.relabel_battles(battle_ids=battle_ids) == 40
    assert len(captured) <= 8
    assert sorted(counting_labeller) == sorted({CODING, *spanish})  # the first prompts, each once
    assert not PromptLabel.objects.filter(battle_id=battle_ids[-1]).exists()  # no prompt, no label
    for battle_id, prompt in zip(battle_ids, [CODING] * 30 + spanish):  # what labelling it alone gives
        label = PromptLabel.objects.get(battle_id=battle_id)
        assert label.language == categories.prompt_language(prompt)
        assert bytes(label.signature) == duplicates.signature(prompt)
        assert {c.slug for c in label.categories.all()} == set(topics(prompt))
    assert "programazioa" in topics(CODING) and PromptLabel.objects.filter(language="es").count() == 10
    assert labels.label_battle(battle_id=battle_ids[-1]) is None


@pytest.mark.django_db
def test_labelling_again_replaces_the_categories_and_keeps_the_duplicate_count(counting_labeller):
    battle_ids = voted_prompts([CODING, "Zein da marmitako errezeta onena?"])
    labels.relabel_battles(battle_ids=battle_ids)
    first = {label.pk: label.labelled_at for label in PromptLabel.objects.all()}
    PromptLabel.objects.update(duplicates=7)  # as reweight_duplicates left them
    Category.objects.filter(slug="programazioa").update(keywords="marmitako")  # an admin edits the rules
    assert labels.relabel_battles() == 2  # every voted battle
    coding, cooking = (PromptLabel.objects.get(battle_id=battle_id) for battle_id in battle_ids)
    assert "programazioa" not in {c.slug for c in coding.categories.all()}
    assert {c.slug for c in cooking.categories.all()} >= {"programazioa", "sukaldaritza"}
    assert coding.duplicates == cooking.duplicates == 7
    assert all(label.labelled_at > first[label.pk] for label in (coding, cooking))
