"""Style features of an answer (arena/style.py): Markdown counts, tokens, and the Basque share."""
from __future__ import annotations

from arena.style import sentences, style_features

MARKDOWN = """# Euskal Herriko mendiak

Hona hemen **mendi garrantzitsuenak** eta haien __altuerak__:

- Aitzkorri mendia Gipuzkoan dago.
- Gorbeia Bizkaia eta Araba artean dago.
1. Anboto mendia oso ezaguna da.

```python
# not a header
print("**not bold**")
```
"""


def test_markdown_elements_are_counted_outside_code():
    features = style_features(MARKDOWN)
    assert (features.headers, features.list_items, features.bold) == (1, 3, 2)
    assert features.tokens > 20


def test_the_server_token_count_wins_when_reported():
    assert style_features("Kaixo mundua", token_count=7).tokens == 7
    assert style_features("Kaixo mundua").tokens == 2


def test_basque_share_counts_sentences_that_switch_language():
    basque = "Gaur eguraldi ona dago Donostian eta hondartzara joango gara. Bihar euria egingo du mendian."
    mixed = basque + " Pero mañana vamos a ir al cine con mis amigos del colegio."
    assert style_features(basque).basque_share == 1.0
    share = style_features(mixed).basque_share
    assert 0.4 < share < 0.8
    assert style_features("The weather in London is very rainy this week.").basque_share == 0.0


def test_no_prose_gives_no_share_and_code_is_not_prose():
    assert style_features("").basque_share is None
    assert style_features("```\nfor i in range(10): print(i)\n```").basque_share is None
    assert sentences("Lehena. Bigarrena!\nHirugarrena") == ["Lehena.", "Bigarrena!", "Hirugarrena"]


def test_sentences_detected_together_give_each_answer_the_features_it_gets_alone():
    from arena.style import candidate_sentences, detect_languages

    answers = [MARKDOWN, "Gaur eguraldi ona dago Donostian. Pero mañana vamos a ir al cine con mis amigos.",
               "The weather in London is very rainy this week. Gaur eguraldi ona dago Donostian.", "Ados.", ""]
    together = detect_languages(sentence for text in answers for sentence in candidate_sentences(text))
    assert set(together.values()) >= {"BASQUE", "SPANISH", "ENGLISH"}
    assert [style_features(text, 0, together) for text in answers] == [style_features(text) for text in answers]
    # Sentences the batch did not detect are detected for that answer.
    assert style_features(answers[1], 0, {}) == style_features(answers[1])
