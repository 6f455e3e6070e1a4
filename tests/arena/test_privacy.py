"""arena/privacy.py: the browser's personal-data patterns in Python, with the same behaviour."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from arena import privacy

# (text, kinds found): Basque, Spanish and French, the forms the warning is for.
POSITIVE = [
    ("Idatzi ane.etxeberria@example.org helbidera", ["email"]),
    ("Escríbeme a JUAN.PEREZ@Correo.ES mañana", ["email"]),
    ("Deitu 612 34 56 78 zenbakira", ["phone"]),
    ("Llámame al +34 612345678", ["phone"]),
    ("Appelez le 06 12 34 56 78", ["phone"]),
    ("Nire NANa 12345678Z da", ["id_number"]),
    ("mi dni es 12345678-z", ["id_number"]),
    ("NIE X1234567L", ["id_number"]),
    ("Mon numéro de sécurité sociale : 1 85 05 78 006 084 36", ["id_number"]),
    ("Ordaindu ES91 2100 0418 4502 0005 1332 kontura", ["iban"]),
    ("Virement sur FR7630006000011234567890189", ["iban"]),
    ("Bizi naiz Kale Nagusia 12, 20003 Donostia", ["address"]),
    ("Vivo en la calle Mayor 5", ["address"]),
    ("J'habite 12 rue de la Paix", ["address"]),
    ("Helbidea: 48001 Bilbo", ["address"]),
    ("Código postal 28013 Ávila", ["address"]),  # an accented capital, as the browser's /i reads it
    # Several at once, in KINDS order whatever the order in the text.
    ("Calle Mayor 5; correo ana@example.com; tel. 612345678", ["email", "phone", "address"]),
]
NEGATIVE = [
    "Zer da bertsolaritza?",
    "1936an gertatu zen",
    "Idatzi 300 hitzeko testu bat",
    "¿Cuántos habitantes tiene Bilbao? Unos 345000.",
    "La tour Eiffel mesure 330 mètres.",
    "Kalea garbi dago gaur",  # a street word with no number
    "Zenbat da 2 + 2?",
    "The answer is 42",
    "@aipamena eta #traola",
    "١٢٣٤٥٦٧٨٩",  # digits of another script: neither \d nor \b match them in the browser
    "612٣٤٥٦٧٨",
]


@pytest.mark.parametrize(("text", "kinds"), POSITIVE)
def test_personal_data_is_found(text, kinds):
    assert privacy.detect(text) == kinds


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_is_not_flagged(text):
    assert privacy.detect(text) == []


def test_unicode_digits_and_spaces_follow_javascript():
    # A no-break space is whitespace for JavaScript's \s; an Arabic-Indic digit is no digit for \d.
    assert privacy.detect("Deitu 612\u00a034\u00a056\u00a078") == ["phone"]
    assert privacy.detect("12345678\u0661Z") == []


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run static/arena/privacy.js")
def test_same_answers_as_the_browser_script():
    """Every text above, and some edge cases, through privacy.js in Node and arena/privacy.py."""
    script = (Path(__file__).resolve().parents[2] / "static" / "arena" / "privacy.js").read_text(encoding="utf-8")
    texts = [text for text, _ in POSITIVE] + NEGATIVE + [
        "Deitu 612\u00a034\u00a056\u00a078", "12345678\u0661Z", "ſſ@kk.KK", "kalea\u212a 12", "K@x.co",
        "avda. Libertad 12", "C/ Mayor 3", "0033 6 12 34 56 78", "ES9121000418450200051332X", "2A 123",
        "X 1234567 L", "Rue 12", "75001 Éire", "75001 ñandú", "75001 Ññ",
    ]
    runner = script + "\nconst texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n" \
                      "process.stdout.write(JSON.stringify(texts.map((t) => window.ArenaPrivacy.detect(t))));\n"
    result = subprocess.run(["node", "-e", "globalThis.window = {};\n" + runner], input=json.dumps(texts),
                            capture_output=True, text=True, timeout=60, check=True)
    browser = json.loads(result.stdout)
    assert [privacy.detect(text) for text in texts] == browser
