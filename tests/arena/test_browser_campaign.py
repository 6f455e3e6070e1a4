"""A campaign in Debian's Chromium: three volunteers sign up and vote, one reaches a raffle entry
(rule: one entry per 2 valid votes), and an anonymous visitor's home page sees the progress bar move
live over /ws/progress/ (static/arena/progress.js), without reloading; one answer gets a reaction, and
one prompt holding an e-mail address is warned about before it is sent, and marked on the server.

``wait_for_function`` predicates are functions ("() => …"): the site's CSP refuses eval'ed strings.
"""
from __future__ import annotations

import pytest

from arena.models import Battle
from tests.arena.conftest import arena_config, consent_text, register_model, sign_up_in_browser
from tests.arena.factories import make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Pintxoak-2026!"


def sign_up(browser, server, username: str):
    context = browser.new_context()
    context.add_cookies([{"name": "arena_language", "value": "en", "url": server.url}])
    page = context.new_page()
    page.goto(server.url + "/account/signup/")
    sign_up_in_browser(page, username, PASSWORD)
    return context, page


def vote_once(page, *, react: bool = False, prompt: str = "Kaixo! Zer moduz zaude gaur?") -> None:
    page.fill("#prompt", prompt)
    page.click("#send")
    if "@" in prompt:  # personal data: the page warns before anything is sent; the volunteer sends anyway
        page.wait_for_selector("#privacy-warning:not([hidden])")
        page.click("#privacy-send")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    if react:  # a reaction to one answer (optional for volunteers): toggled on
        button = page.locator('#log-A button.reaction[data-side="A"]').first
        button.click()
        page.wait_for_function("() => document.querySelector('#log-A button.reaction[aria-pressed=\"true\"]')")
    for name in ("content", "language", "overall"):
        page.check(f'input[name="{name}"][value="A"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    page.click("#again")
    page.wait_for_function("() => document.getElementById('reveal').hidden && !document.getElementById('send').disabled")


def test_three_volunteers_move_a_live_progress_bar_and_one_earns_a_raffle_entry(live_server_asgi, browser,
                                                                                fake_openai, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    consent_text()
    arena_config(min_answer_chars=1)  # the fake models' answers are short: every vote here is valid
    models = [register_model("Eredu-Gorria", "echo-gorria", fake_openai.base_url),
              register_model("Eredu-Urdina", "echo-urdina", fake_openai.base_url)]
    make_campaign("proba", title_en="Test campaign", models=models, targets=[4, 4], vote_target=8,
                  votes_per_raffle_entry=2)

    # An anonymous visitor keeps the home page open, its progress socket connected.
    watcher_context = browser.new_context()
    watcher_context.add_cookies([{"name": "arena_language", "value": "en", "url": live_server_asgi.url}])
    watcher = watcher_context.new_page()
    with watcher.expect_websocket(lambda ws: ws.url.endswith("/ws/progress/")):
        watcher.goto(live_server_asgi.url + "/")
    assert watcher.get_attribute("#campaign-progress-bar", "value") == "0"
    assert "0 valid votes of the 8" in watcher.inner_text("#campaign-progress-text")

    volunteers = [sign_up(browser, live_server_asgi, name) for name in ("ane_proba", "jon_proba", "miren_proba")]
    (_ane_context, ane), (_jon_context, jon), (_miren_context, miren) = volunteers
    vote_once(ane, react=True)
    vote_once(ane)
    vote_once(jon)
    # Miren's battle page, open since she signed up, shows the others' three votes without a reload.
    miren.wait_for_function("() => document.getElementById('campaign-progress-bar').value === 3", timeout=20000)
    vote_once(miren, prompt="Idatzi iezadazu miren.proba@adibidea.eus helbidera, mesedez.")

    # Four valid votes: the visitor's bar moved without a reload (frames come once each batch is checked).
    watcher.wait_for_function("() => document.getElementById('campaign-progress-bar').value === 4", timeout=20000)
    assert "4 valid votes of the 8" in watcher.inner_text("#campaign-progress-text")
    assert watcher.get_attribute("#campaign-progress-text", "aria-live") == "polite"

    ane.goto(live_server_asgi.url + "/contributions/")
    facts = ane.inner_text("main")
    assert "You have 1 raffle entry." in facts and "2 valid votes in this campaign." in facts
    jon.goto(live_server_asgi.url + "/contributions/")
    assert "You have 0 raffle entries." in jon.inner_text("main")
    assert "One more valid vote gives you the next one." in jon.inner_text("main")

    # Ane opts in to the board under a nickname; her username never appears there.
    ane.goto(live_server_asgi.url + "/contributions/")
    ane.fill("#id_nickname", "Anetxu")
    ane.check("#id_show_on_board")
    ane.click("#board-settings button[type=submit]")
    ane.wait_for_selector("text=Your board settings were saved.")
    watcher.goto(live_server_asgi.url + "/contributors/")
    board = watcher.inner_text("main")
    assert "Anetxu" in board and "ane_proba" not in board and "jon_proba" not in board
    # Miren's conversation was marked for personal data on the server too (exports leave it out).
    assert Battle.objects.filter(participant__user__username="miren_proba", privacy_flags=["email"]).count() == 1
    for context in [watcher_context] + [context for context, _page in volunteers]:
        context.close()
