"""Replies of served models are untrusted: a judge's tags are parsed strictly."""
from __future__ import annotations

import pytest

from training.served_models import UNPARSED, Tags, parse_tags


@pytest.mark.parametrize("reply, expected", [
    ('{"task_category": "Math", "input_quality": "good"}', Tags("Math", "good")),
    ('Sure!\n```json\n{"task_category": "Translation", "input_quality": "Excellent"}\n```', Tags("Translation",
                                                                                             "excellent")),
    ('{"task_category": "Poetry", "input_quality": "superb"}', Tags(UNPARSED, UNPARSED)),
    ("I cannot classify this.", Tags(UNPARSED, UNPARSED)),
    ('{"task_category": ', Tags(UNPARSED, UNPARSED)),
    ("[1, 2]", Tags(UNPARSED, UNPARSED)),
])
def test_judge_replies_are_parsed_strictly(reply, expected):
    assert parse_tags(reply) == expected
