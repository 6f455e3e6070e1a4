"""Prompt labels (arena/categories.py, arena/services/labels.py): keyword rules, language, filters."""
from __future__ import annotations

import pytest

from arena import categories, ranking
from arena.models import Category, Message, PromptLabel
from arena.ranking.counts import VoteFilters
from arena.services import labels
from arena.tasks import process_vote
from tests.arena.factories import add_votes, make_models


def rule(slug, keywords):
    return Category(slug=slug, name=slug, keywords=keywords)


def test_keyword_rules_match_word_starts_ignoring_case_and_accents():
    rules = [rule("programazioa", "programa\nPython"), rule("sukaldaritza", "errezeta\nsukald"),
             rule("kultura", "euskal herri")]
    labeller = categories.KeywordLabeller()
    assert labeller.label("Nola PROGRAMATU dezaket funtzio bat pythonen?", rules) == ["programazioa"]
    assert labeller.label("Euskal Herriko errezetarik onena?", rules) == ["sukaldaritza", "kultura"]
    assert labeller.label("Zer da kodea?", rules) == []
    assert labeller.label("Osasunerako sukaldaritza", [rule("x", "")]) == []  # an empty rule matches nothing
    assert labeller.label("aprogramazioa", rules) == []  # only at the start of a word


def test_prompt_language():
    assert categories.prompt_language("Zer egin dezaket gaur arratsaldean Donostian?") == "eu"
    assert categories.prompt_language("¿Qué puedo hacer esta tarde en San Sebastián?") == "es"
    assert categories.prompt_language("Kaixo") == ""


@pytest.mark.django_db
def test_a_vote_labels_its_prompt_and_boards_filter_by_topic_and_language(fresh_ranking_cache):
    m1, m2 = make_models(2)
    votes = add_votes([(m1, m2, "A", "A", "A")] * 3 + [(m1, m2, "B", "B", "B")] * 2)
    prompts = ["Pythonen programa bat behar dut lista bat ordenatzeko."] * 3 + ["¿Cuál es la mejor receta de marmitako?"] * 2
    for vote, prompt in zip(votes, prompts):
        Message.objects.create(battle=vote.battle, turn=0, role="user", content=prompt)
        for side in "AB":  # long enough for the quality checks
            Message.objects.create(battle=vote.battle, turn=0, role="assistant", side=side, content="Erantzun luze bat. " * 3)
        process_vote(vote.pk)
    label = PromptLabel.objects.get(battle=votes[0].battle)
    assert label.language == "eu" and {c.slug for c in label.categories.all()} == {"programazioa"}
    assert PromptLabel.objects.get(battle=votes[4].battle).language == "es"
    coding = ranking.build_leaderboard(VoteFilters(category="programazioa"), rounds=0)
    assert coding.total_votes == 3
    assert ranking.build_leaderboard(VoteFilters(prompt_language="es"), rounds=0).total_votes == 2

    Category.objects.filter(slug="sukaldaritza").update(keywords="marmitako")  # an admin edits a rule...
    assert labels.relabel_battles() == 5  # ...and relabels
    cooking = ranking.build_leaderboard(VoteFilters(category="sukaldaritza"), rounds=0)
    assert cooking.total_votes == 2


@pytest.mark.django_db(transaction=True)
def test_llm_judge_labeller_asks_a_served_model_in_basque_and_keeps_only_known_codes(fake_openai, settings):
    from tests.arena.conftest import register_model

    register_model("Epailea", "echo-judge", fake_openai.base_url)
    settings.ARENA = {**settings.ARENA, "PROMPT_JUDGE_MODEL": "Epailea",
                      "PROMPT_LABELLER": "arena.categories.LLMJudgeLabeller"}
    rules = [rule("programazioa", ""), rule("sukaldaritza", "")]
    # The echo model repeats what it was sent: the codes listed in the instructions come back, and
    # the words of the prompt that are no category code are dropped.
    found = categories.labeller().label("Zer da ezezaguna-kategoria bat?", rules)
    assert found == ["programazioa", "sukaldaritza"]
    sent = fake_openai.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "Kategoriak" in sent[0]["content"] and "- programazioa" in sent[0]["content"]
    assert sent[1] == {"role": "user", "content": "Zer da ezezaguna-kategoria bat?"}
    assert fake_openai.requests[-1]["temperature"] == 0.0


def test_llm_judge_answer_is_untrusted_text_of_which_only_known_codes_count(monkeypatch):
    async def judge(messages):
        return "Programazioa, EUSKAL-KULTURA eta <script>hackeatu</script>"

    monkeypatch.setattr(categories, "_judge_answer", judge)
    rules = [rule("programazioa", ""), rule("euskal-kultura", ""), rule("zientzia", "")]
    assert categories.LLMJudgeLabeller().label("Galdera bat", rules) == ["programazioa", "euskal-kultura"]
    assert categories.LLMJudgeLabeller().label("Galdera bat", []) == []
