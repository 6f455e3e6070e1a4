"""Frame limits checked before parsing (arena/frames.py)."""
from __future__ import annotations

import pytest

from arena.frames import nesting_exceeds, websocket_max_size


@pytest.mark.parametrize("text, limit, deeper", [
    ('{"type": "prompt", "text": "[[[[[[[["}', 1, False),  # brackets inside strings do not count
    ('{"a": {"b": {"c": 1}}}', 3, False),
    ('{"a": {"b": {"c": {"d": 1}}}}', 3, True),
    ("[" * 100_000, 4, True),  # would raise RecursionError in json.loads
    ('{"text": "unterminated \\" [[[[', 1, False),
])
def test_nesting_is_measured_without_parsing(text, limit, deeper):
    assert nesting_exceeds(text, limit) is deeper


def test_the_servers_own_limit_sits_just_above_the_arenas(settings):
    settings.ARENA = {**settings.ARENA, "FRAME_MAX_BYTES": 1000}
    assert 1000 < websocket_max_size() <= 1000 + 4096
