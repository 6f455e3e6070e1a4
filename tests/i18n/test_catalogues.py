"""Every user-facing string is translated to Basque and Spanish, and the compiled catalogues are current."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED_APPS = ["config", "arena", "models_serving", "evaluation", "templates"]


@pytest.fixture(scope="module")
def extracted_msgids(tmp_path_factory) -> set[str]:
    """Run Django's makemessages on a copy of the sources, so the repository is left untouched."""
    if not shutil.which("xgettext"):
        pytest.fail("gettext is not installed (scripts/install.sh installs it)")
    copy = tmp_path_factory.mktemp("src")
    for name in TRANSLATED_APPS + ["manage.py"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
        elif source.exists():
            shutil.copy(source, copy / name)
    (copy / "locale").mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "eu", "--no-location", "--no-obsolete"],
        cwd=copy, check=True, capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.dev", "PYTHONPATH": str(ROOT)},
    )
    return {entry.msgid for entry in polib.pofile(str(copy / "locale" / "eu" / "LC_MESSAGES" / "django.po"))}


@pytest.mark.parametrize("language", ["eu", "es"])
def test_every_string_is_translated(extracted_msgids, language):
    po = polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))
    translated = {entry.msgid for entry in po if entry.translated() and "fuzzy" not in entry.flags}
    missing = sorted(extracted_msgids - translated)
    assert not missing, f"{len(missing)} strings lack a {language} translation, e.g. {missing[:5]}"


@pytest.mark.parametrize("language", ["eu", "es", "en"])
def test_compiled_catalogue_matches_sources(language):
    po_path = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
    mo_path = po_path.with_suffix(".mo")
    compiled = {entry.msgid: entry.msgstr for entry in polib.mofile(str(mo_path))}
    for entry in polib.pofile(str(po_path)):
        if entry.translated() and not entry.msgid_plural and "fuzzy" not in entry.flags:
            assert compiled.get(entry.msgid) == entry.msgstr, f"{mo_path} is stale: run manage.py compilemessages"


@pytest.mark.django_db
@pytest.mark.parametrize("language, expected", [("eu", "Nola funtzionatzen du"), ("es", "Cómo funciona"), ("en", "How it works")])
def test_home_page_language(language, expected):
    client = Client()
    if language != "eu":
        client.cookies["arena_language"] = language
    html = client.get("/").content.decode()
    assert expected in html
    assert f'lang="{language}"' in html


@pytest.mark.django_db
def test_basque_is_the_default_even_for_spanish_browsers():
    html = Client(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9").get("/").content.decode()
    assert 'lang="eu"' in html
