"""locale_django/: Basque for the admin and form strings Django's own eu catalogues leave untranslated."""
from __future__ import annotations

from pathlib import Path

import django
import polib
import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
SUPPLEMENT = ROOT / "locale_django" / "eu" / "LC_MESSAGES" / "django.po"
DJANGO_CATALOGUES = ["contrib/admin", "contrib/auth"]  # what admins and volunteers see


@pytest.mark.parametrize("catalogue", DJANGO_CATALOGUES)
def test_every_django_admin_string_has_basque(catalogue):
    django_po = polib.pofile(str(Path(django.__file__).parent / catalogue / "locale/eu/LC_MESSAGES/django.po"))
    supplement = {entry.msgid for entry in polib.pofile(str(SUPPLEMENT)) if entry.translated()}
    missing = [e.msgid for e in django_po if not e.obsolete and not e.translated() and e.msgid not in supplement]
    assert not missing, f"add Basque for these to {SUPPLEMENT.relative_to(ROOT)}: {missing}"


def test_supplement_is_compiled_and_used():
    compiled = {entry.msgid: entry.msgstr for entry in polib.mofile(str(SUPPLEMENT.with_suffix(".mo")))}
    for entry in polib.pofile(str(SUPPLEMENT)):
        assert compiled.get(entry.msgid) == entry.msgstr, "stale: msgfmt -o django.mo django.po"
    with translation.override("eu"):
        assert translation.gettext("Toggle navigation") == "Erakutsi/ezkutatu nabigazioa"
