"""Template helpers of the site's frame: endonyms, the consent text, error descriptions, percentages."""
from __future__ import annotations

import pytest
from django.utils import translation

from arena.templatetags.arena_ui import language_choices, percent


def test_languages_are_named_in_themselves():
    assert language_choices() == [("eu", "Euskara"), ("es", "Español"), ("en", "English")]


@pytest.mark.parametrize("language, expected", [("eu", "%100,0"), ("es", "100,0\u00a0%"), ("en", "100.0%")])
def test_percent_follows_the_language(language, expected):
    with translation.override(language):
        assert percent(100, 1) == expected
        assert percent(None) == ""
