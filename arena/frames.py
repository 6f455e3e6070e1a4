"""Limits on the frames a battle socket accepts, checked before a frame is parsed."""
from __future__ import annotations

import re

from django.conf import settings

# The ASGI server's own WebSocket message limit sits this far above FRAME_MAX_BYTES: a frame a little
# over the arena's limit still gets a readable error frame, a bigger one is refused by the server
# (close code 1009) before it is buffered.
WS_MAX_SIZE_MARGIN = 1024
# A JSON string (possibly unterminated) or one bracket: enough to measure nesting without parsing.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def websocket_max_size() -> int:
    """``ws_max_size`` (uvicorn ``--ws-max-size``) for every server that serves the arena's socket."""
    return settings.ARENA["FRAME_MAX_BYTES"] + WS_MAX_SIZE_MARGIN


def nesting_exceeds(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests arrays/objects deeper than ``limit``: a linear scan before json.loads
    (which would recurse, and raise RecursionError, on a deep enough frame)."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False
