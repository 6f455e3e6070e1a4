"""Personal data in a prompt, found by the same patterns the browser uses (static/arena/privacy.js).

The browser warns before sending; this server-side copy records what an accepted prompt seemed to
contain (``Battle.privacy_flags``), so exports can leave those conversations out. The patterns are
ported to Python ``re`` with JavaScript's meaning kept: ``\\d``, ``\\b`` and case folding are ASCII
(``re.ASCII``), ``\\s`` is JavaScript's whitespace set (no-break spaces included), and the accented
letters the address pattern names are written in both cases, as JavaScript's ``/i`` folds them.
tests/arena/test_privacy.py runs both files on the same texts.
"""
from __future__ import annotations

import re

# JavaScript's \s: WhiteSpace and LineTerminator (ECMA-262), as a character-class body.
_S = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_ASCII_I = re.ASCII | re.IGNORECASE

PATTERNS: dict[str, re.Pattern] = {
    "email": re.compile(rf"[^{_S}@<>()]+@[^{_S}@<>()]+\.[a-z]{{2,}}", _ASCII_I),
    # +34 / +33 prefixes optional; Spanish 6xx/7xx/8xx/9xx numbers of 9 digits, French 0X XX XX XX XX.
    "phone": re.compile(
        rf"(?:^|[^\d])(?:(?:\+|00)3[34][{_S}.-]?)?"
        rf"(?:[6-9]\d{{2}}(?:[{_S}.-]?\d{{2,3}}){{3}}|[6-9]\d{{8}}|0[1-9](?:[{_S}.-]?\d{{2}}){{4}})(?!\d)",
        re.ASCII,
    ),
    # DNI (8 digits + letter), NIE (X/Y/Z + 7 digits + letter), French NIR (13 digits, optionally +2).
    "id_number": re.compile(
        rf"\b(?:\d{{8}}[{_S}-]?[A-HJ-NP-TV-Z]|[XYZ][{_S}-]?\d{{7}}[{_S}-]?[A-HJ-NP-TV-Z]"
        rf"|[12][{_S}]?\d{{2}}[{_S}]?(?:0[1-9]|1[0-2])[{_S}]?(?:\d{{2}}|2[AB])[{_S}]?\d{{3}}[{_S}]?\d{{3}}"
        rf"(?:[{_S}]?\d{{2}})?)\b",
        _ASCII_I,
    ),
    "iban": re.compile(rf"\b[A-Z]{{2}}\d{{2}}(?:[{_S}]?[A-Z0-9]{{4}}){{3,7}}(?:[{_S}]?[A-Z0-9]{{1,3}})?\b", re.ASCII),
    "address": re.compile(
        r"(?:\b(?:kalea|kalean|etorbidea|etorbidean|pasealekua|calle|c/|avenida|avda\.?|paseo|plaza|rue|avenue"
        r"|boulevard|bd)\b[^\n,.]{0,40}?\b\d{1,4}\b"
        rf"|\b\d{{1,4}}[{_S},]+(?:rue|avenue|boulevard)\b"
        rf"|\b\d{{5}}[{_S}]+[A-ZÁÉÍÓÚÑáéíóúñ][a-zÁÉÍÓÚÑáéíóúñ]+)",
        _ASCII_I,
    ),
}
KINDS = tuple(PATTERNS)


def detect(text: str) -> list[str]:
    """The kinds of personal data ``text`` seems to contain, in ``KINDS`` order (empty: none)."""
    return [kind for kind, pattern in PATTERNS.items() if pattern.search(text)]
