"""The battle page in Chromium: reaction buttons under each finished answer (toggled, kept on resume,
still there after the vote) and the public cards the vote reveals."""
from __future__ import annotations

import pytest

from tests.arena.conftest import consent_text, make_participant, register_model, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

READY = "() => !document.getElementById('send').disabled"


def test_reactions_and_the_public_cards(live_server_asgi, browser, fake_openai, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url, backbone="Oinarri-Bat", parameters="8B",
                   adaptation="Euskal corpusa", energy_wh_per_1k_tokens=2.0, energy_source="Neurketa")
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url, backbone="Oinarri-Bi")
    consent_text()
    cookie = session_cookie(make_participant("nerea").user)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url},
                         {"name": "arena_language", "value": "en", "url": live_server_asgi.url}])
    page = context.new_page()
    page.goto(live_server_asgi.url + "/battle/")
    page.wait_for_function(READY)
    page.fill("#prompt", "Kaixo")
    page.click("#send")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    assert page.locator("#log-A button.reaction").count() == 5 and page.locator("#log-B button.reaction").count() == 5
    assert "Oinarri-Bat" not in page.content()  # nothing of the card before the vote
    useful = page.locator('#log-A button.reaction[data-kind="useful"]')
    useful.click()
    page.wait_for_function("() => document.querySelector('#log-A button.reaction[data-kind=useful]')"
                           ".getAttribute('aria-pressed') === 'true'")
    from arena.models import Reaction

    assert list(Reaction.objects.values_list("message__side", "kind")) == [("A", "useful")]
    page.reload()  # resumed: the pressed state comes back from the server
    page.wait_for_function("() => { const b = document.querySelector('#log-A button.reaction[data-kind=useful]');"
                           " return b && b.getAttribute('aria-pressed') === 'true'; }", timeout=15000)
    for name in ("content", "language", "overall"):
        page.check(f'input[name="{name}"][value="A"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    cards = page.inner_text("#reveal")
    assert "Oinarri-Bat" in cards and "8B" in cards and "Euskal corpusa" in cards and "Source: Neurketa" in cards
    assert "Oinarri-Bi" in cards and page.inner_text("#vote-effect")
    from arena.models import Battle

    side_a = Battle.objects.get().model_a.public_name  # the draw decides which model is A
    assert page.locator("#card-A a").get_attribute("href") == f"/leaderboard/#overall-{side_a.lower()}"
    page.locator('#log-B button.reaction[data-kind="wrong"]').click()  # after the vote too
    page.wait_for_function("() => document.querySelector('#log-B button.reaction[data-kind=wrong]')"
                           ".getAttribute('aria-pressed') === 'true'")
    assert Reaction.objects.count() == 2
    context.close()
