"""services/styles.py: a voted battle's answers get their style features, off the relay's path."""
from __future__ import annotations

import pytest

from arena import services, tasks
from arena.models import AnswerStyle, Battle, Message, VoteStyle
from arena.services.styles import store_answer_styles
from tests.arena.factories import add_votes, make_models, make_voter

MARKDOWN = "# Erantzuna\n\n- **Lehena**: gaur eguraldi ona dago Donostian.\n- Bigarrena: bihar euria egingo du."


def answering_battle() -> Battle:
    model_a, model_b = make_models(2)
    return Battle.objects.create(participant=make_voter(), model_a=model_a, model_b=model_b,
                                 status=Battle.Status.ANSWERING)


def answer_turn(battle: Battle, *answers: tuple[str, str, int]) -> None:
    """Turn 0's answers, stored as the relay stores them at the turn's end."""
    services.complete_turn(battle_id=battle.pk, turn=0, status=Battle.Status.READY, answers=[
        services.Answer(side=side, content=text, finish_reason="stop", token_count=tokens)
        for side, text, tokens in answers])


@pytest.mark.django_db
def test_the_relay_stores_the_answer_and_the_features_come_later():
    battle = answering_battle()
    answer_turn(battle, ("A", MARKDOWN, 31), ("B", "Hola, ¿qué tal estás hoy, amigo mío?", 0))
    assert not AnswerStyle.objects.exists()  # no language detection while the answers are relayed
    assert store_answer_styles(battle_ids=[battle.pk]) == 2
    style_a = Message.objects.get(battle=battle, side="A").style
    assert (style_a.tokens, style_a.headers, style_a.list_items, style_a.bold) == (31, 1, 2, 1)
    assert style_a.battle_id == battle.pk and style_a.basque_chars == style_a.language_chars > 0
    style_b = AnswerStyle.objects.get(battle=battle, side="B")
    assert style_b.basque_chars == 0 and style_b.language_chars > 0
    assert store_answer_styles(battle_ids=[battle.pk]) == 0  # stored once


@pytest.mark.django_db
def test_a_failing_detector_skips_that_answer_and_keeps_the_rest(monkeypatch):
    battle = answering_battle()
    answer_turn(battle, ("A", "Kaixo!", 0), ("B", "crash", 0))
    real = __import__("arena.style", fromlist=["style_features"]).style_features

    def flaky(text, token_count=0, languages=None):
        if text == "crash":
            raise RuntimeError("detector crashed")
        return real(text, token_count, languages)

    monkeypatch.setattr("arena.services.styles.style_features", flaky)
    assert store_answer_styles(battle_ids=[battle.pk]) == 1
    assert Message.objects.get(battle=battle, side="B").content == "crash"
    assert list(AnswerStyle.objects.values_list("side", flat=True)) == ["A"]


@pytest.mark.django_db
def test_a_batch_whose_language_detection_fails_is_detected_answer_by_answer(monkeypatch, caplog):
    """One lingua call detects a batch's sentences; should it fail, each answer is detected alone, so
    only the answer that breaks the detector goes without features."""
    from arena import style

    poison = "Esaldi honek detektagailua hausten du beti."

    class Breakable:
        def __init__(self, detector):
            self.detector, self.calls = detector, 0

        def detect_languages_in_parallel_of(self, sentences):
            self.calls += 1
            if poison in sentences:
                raise RuntimeError("detector crashed")
            return self.detector.detect_languages_in_parallel_of(sentences)

    detector = Breakable(style._detector())
    monkeypatch.setattr(style, "_detector", lambda: detector)
    battle = answering_battle()
    answer_turn(battle, ("A", MARKDOWN, 31), ("B", f"Kaixo, zer moduz zaude gaur? {poison}", 0))
    assert store_answer_styles(battle_ids=[battle.pk]) == 1
    assert list(AnswerStyle.objects.values_list("side", flat=True)) == ["A"]
    assert detector.calls == 3  # the batch, then each answer
    assert "detecting them one by one" in caplog.text


@pytest.mark.django_db
def test_the_batch_after_new_votes_stores_styles_and_labels(fresh_ranking_cache):
    m1, m2 = make_models(2)
    vote = add_votes([(m1, m2, "A", "A", "A")])[0]
    Message.objects.create(battle=vote.battle, turn=0, role="user", content="Zein da Euskal Herriko mendirik altuena?")
    for side in "AB":
        Message.objects.create(battle=vote.battle, turn=0, role="assistant", side=side, content=MARKDOWN)
    assert tasks.check_new_votes() == 1
    assert AnswerStyle.objects.filter(battle=vote.battle).count() == 2
    assert vote.battle.prompt_label.language == "eu"


@pytest.mark.django_db
def test_each_vote_gets_one_row_with_both_sides_summed_over_their_turns():
    m1, m2 = make_models(2)
    vote = add_votes([(m1, m2, "A", "A", "A")])[0]
    for turn, (text_a, text_b) in enumerate([("# Bat\n\n- **a**\n- b", "Kaixo"), ("## Bi\n\n- c", "**Agur** beti")]):
        for side, text in (("A", text_a), ("B", text_b)):
            Message.objects.create(battle=vote.battle, turn=turn, role="assistant", side=side, content=text,
                                   token_count=10 * (turn + 1))
    store_answer_styles(battle_ids=[vote.battle_id])
    summed = VoteStyle.objects.get(vote=vote)
    assert (summed.tokens_a, summed.headers_a, summed.list_items_a, summed.bold_a) == (30, 2, 3, 1)
    assert (summed.tokens_b, summed.headers_b, summed.list_items_b, summed.bold_b) == (30, 0, 0, 1)
    # The per-vote row is the sum of its answers' rows, whatever detector results they hold.
    for side in "AB":
        rows = AnswerStyle.objects.filter(battle=vote.battle, side=side)
        assert getattr(summed, f"basque_chars_{side.lower()}") == sum(r.basque_chars for r in rows)


@pytest.mark.django_db
def test_a_later_batch_that_stores_more_answers_corrects_the_vote_row():
    m1, m2 = make_models(2)
    vote = add_votes([(m1, m2, "A", "A", "A")])[0]
    Message.objects.create(battle=vote.battle, turn=0, role="assistant", side="A", content="Kaixo", token_count=5)
    store_answer_styles(battle_ids=[vote.battle_id])
    assert VoteStyle.objects.get(vote=vote).tokens_b == 0
    Message.objects.create(battle=vote.battle, turn=0, role="assistant", side="B", content="Agur", token_count=7)
    store_answer_styles(battle_ids=[vote.battle_id])
    assert (VoteStyle.objects.get(vote=vote).tokens_a, VoteStyle.objects.get(vote=vote).tokens_b) == (5, 7)
    assert VoteStyle.objects.count() == 1
