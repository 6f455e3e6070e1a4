"""Content-Security-Policy: scripts only from the site's own files, connections to itself, never framed;
and no template relies on inline scripts or inline event handlers, which that policy blocks."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", reverse("login"), reverse("arena:signup"), reverse("arena:leaderboard"),
                                 reverse("admin:login")])
def test_every_page_carries_the_policy(url):
    policy = directives(Client().get(url))
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["base-uri"] == ["'self'"]
    # The battle WebSocket goes to the site itself, spelled out for browsers whose 'self' excludes ws:.
    assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]


@pytest.mark.django_db
def test_a_secure_page_allows_only_the_secure_socket(admin_client):
    response = admin_client.get(reverse("admin:models_serving_servedmodel_changelist"), secure=True)
    assert response.status_code == 200
    assert directives(response)["connect-src"] == ["'self'", "wss://testserver"]


def template_files() -> list[Path]:
    folders = [Path(folder) for folder in settings.TEMPLATES[0]["DIRS"]]
    folders += [path for path in ROOT.glob("*/templates") if path.is_dir()]
    return sorted(path for folder in folders for path in folder.rglob("*.html"))


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"(?:href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)


def test_templates_have_no_inline_scripts_or_event_handlers():
    files = template_files()
    assert any(path.name == "base.html" for path in files) and any(path.name == "try_model.html" for path in files)
    found = []
    for path in files:
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, JAVASCRIPT_URL):
            found += [f"{path.relative_to(ROOT)}: {match.group(0)[:80]}" for match in pattern.finditer(text)]
    assert not found, "the Content-Security-Policy blocks these:\n" + "\n".join(found)


def test_the_scanner_catches_what_it_must():
    assert INLINE_SCRIPT.search('<script>alert(1)</script>')
    assert INLINE_SCRIPT.search('<script type="module">x</script>')
    assert not INLINE_SCRIPT.search('<script src="/static/arena/battle.js" defer></script>')
    assert EVENT_HANDLER.search('<select name="language" onchange="this.form.submit()">')
    assert EVENT_HANDLER.search('<img\n  src=x onerror="x">')
    assert not EVENT_HANDLER.search('<button data-once="1">')
    assert JAVASCRIPT_URL.search('<a href="javascript:void(0)">')
