"""The battle page (static/arena/battle.js) in Debian's Chromium: every error leaves it usable, the
reveal, the overall suggestion, keyboard use and the privacy warning.

Predicates for ``wait_for_function`` are functions (``"() => …"``): the site's CSP refuses eval.
"""
from __future__ import annotations

import pytest

from tests.arena.conftest import consent_text, make_participant, register_model, session_cookie

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

READY = "() => !document.getElementById('send').disabled"
REFUSED = ("() => !document.getElementById('send').disabled"
           " && document.getElementById('status').classList.contains('error')")


def battle_page(browser, server, username: str, language: str = "en", viewport=None):
    consent_text()
    cookie = session_cookie(make_participant(username).user)
    context = browser.new_context(viewport=viewport or {"width": 1200, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": server.url},
                         {"name": "arena_language", "value": language, "url": server.url}])
    page = context.new_page()
    page.goto(server.url + "/battle/")
    page.wait_for_function(READY)
    return context, page


def user_bubbles(page) -> int:
    return page.locator("#log-A .msg.user").count()


def test_refusals_before_a_turn_leave_the_page_usable(live_server_asgi, browser, fake_openai, settings, monkeypatch):
    """No models, too many turns, rate limit: the prompt comes back to the box, no unanswered bubble
    stays, Send works, Stop is off, and a battle that could be voted still can."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.ARENA = {**settings.ARENA, "MAX_TURNS": 1}
    context, page = battle_page(browser, live_server_asgi, "iker")

    page.fill("#prompt", "Kaixo!")
    page.click("#send")  # no models registered yet: "not enough models"
    page.wait_for_function(REFUSED, timeout=15000)
    assert page.input_value("#prompt") == "Kaixo!" and user_bubbles(page) == 0
    assert page.is_disabled("#stop") and page.is_enabled("#new-battle")

    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    page.click("#send")  # the same text, now answered
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    page.fill("#prompt", "Eta gero?")
    page.click("#send")  # MAX_TURNS = 1: "long enough, please vote"
    page.wait_for_function(REFUSED + " && !document.getElementById('vote-form').hidden", timeout=15000)
    assert page.input_value("#prompt") == "Eta gero?" and user_bubbles(page) == 1
    assert page.locator("#log-A .msg.assistant").count() == 1
    for name in ("content", "language", "overall"):
        page.check(f'input[name="{name}"][value="A"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")

    page.click("#again")
    page.wait_for_function(READY + " && document.getElementById('reveal').hidden")
    settings.ARENA = {**settings.ARENA, "PROMPTS_PER_MINUTE": 1}  # one prompt stored within the minute
    page.fill("#prompt", "Hirugarrena")
    page.click("#send")  # the third prompt within a minute: rate limited
    page.wait_for_function(REFUSED, timeout=15000)
    assert page.input_value("#prompt") == "Hirugarrena" and user_bubbles(page) == 0
    assert "too fast" in page.inner_text("#status")
    context.close()


def test_a_failed_model_stops_the_cursor_and_leaves_new_battle(live_server_asgi, browser, fake_openai, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Hila", "die", fake_openai.base_url)
    register_model("Eredu-Ona", "echo-ona", fake_openai.base_url)
    context, page = battle_page(browser, live_server_asgi, "miren")
    page.fill("#prompt", "Kaixo")
    page.click("#send")
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')"
                           " && !document.getElementById('new-battle').disabled", timeout=30000)
    page.wait_for_timeout(300)  # frames after the error (turn_done) have arrived
    assert page.locator(".msg.streaming").count() == 0  # no cursor blinks on
    assert page.get_attribute("#log-A", "aria-busy") == "false"
    assert page.is_disabled("#send") and page.is_hidden("#vote-form")
    page.click("#new-battle")
    page.wait_for_function(READY + " && document.getElementById('log-A').children.length === 0")
    context.close()


def test_reveal_names_the_panes_repeats_the_vote_and_moves_focus(live_server_asgi, browser, fake_openai, monkeypatch):
    """Overall is suggested (never filled in silently); focus goes to the vote form, then the reveal;
    the reveal has no sampling jargon and a link to the leaderboard."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url, description="Proba eredua")
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    context, page = battle_page(browser, live_server_asgi, "jon")
    page.fill("#prompt", "Kaixo")
    page.keyboard.press("Enter")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    assert page.evaluate("document.activeElement.id") == "vote-title"
    page.check('input[name="content"][value="B"]')
    page.check('input[name="language"][value="B"]')
    assert page.evaluate("document.querySelector('input[name=overall]:checked')") is None
    assert page.is_visible("#overall-suggestion")
    page.click("#use-suggestion")
    assert page.is_checked('input[name="overall"][value="B"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "reveal-title"
    names = page.inner_text("#head-A") + page.inner_text("#head-B")
    assert "Eredu-Bat" in names and "Eredu-Bi" in names
    reveal = page.inner_text("#reveal")
    assert "B is better" in reveal and "temperature" not in reveal.lower()
    assert page.locator("#reveal a[href='/leaderboard/']").count() == 1
    visible_new = [b for b in page.locator("button:has-text('New battle')").all() if b.is_visible()]
    assert len(visible_new) == 1
    context.close()


def test_keyboard_only_volunteer_flow(live_server_asgi, browser, fake_openai, monkeypatch):
    """Tab to an example, send it with the keyboard, answer with 1/2/3, vote with Enter, start again."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    context, page = battle_page(browser, live_server_asgi, "ane")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")  # skip the menu
    for _ in range(40):  # Tab until the first example prompt
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('example')"):
            break
    page.keyboard.press("Enter")  # the example fills the message box and focuses it
    assert page.evaluate("document.activeElement.id") == "prompt" and page.input_value("#prompt")
    page.keyboard.press("Enter")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    page.keyboard.press("1")  # content: A
    page.keyboard.press("2")  # Basque: draw
    page.keyboard.press("3")  # overall: B
    assert page.evaluate("document.activeElement.id") == "submit-vote"
    page.keyboard.press("Enter")
    page.wait_for_selector("#reveal:not([hidden])")
    from arena.models import Vote

    vote = Vote.objects.get()
    assert (vote.content, vote.language, vote.overall) == ("A", "tie", "B")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "again"
    page.keyboard.press("Enter")
    page.wait_for_function(READY + " && document.getElementById('reveal').hidden")
    context.close()


PERSONAL = [
    ("Idatzi ane.etxeberria@example.org helbidera", "an e-mail address"),
    ("Deitu 612 34 56 78 zenbakira", "a phone number"),
    ("Appelez le 06 12 34 56 78", "a phone number"),
    ("Nire NANa 12345678Z da", "an ID number"),
    ("NIE X1234567L", "an ID number"),
    ("Ordaindu ES91 2100 0418 4502 0005 1332 kontura", "a bank account number (IBAN)"),
    ("Bizi naiz Kale Nagusia 12, 20003 Donostia", "a postal address"),
]
HARMLESS = ["Zer da bertsolaritza?", "1936an gertatu zen", "Idatzi 300 hitzeko testu bat"]


def test_personal_data_is_flagged_before_sending(live_server_asgi, browser, fake_openai, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    context, page = battle_page(browser, live_server_asgi, "leire")
    for text, kind in PERSONAL:
        found = page.evaluate("(text) => window.ArenaPrivacy.detect(text)", text)
        assert found, text
    for text in HARMLESS:
        assert page.evaluate("(text) => window.ArenaPrivacy.detect(text)", text) == [], text
    page.fill("#prompt", PERSONAL[0][0])
    page.click("#send")
    page.wait_for_selector("#privacy-warning:not([hidden])")
    assert PERSONAL[0][1] in page.inner_text("#privacy-warning") and user_bubbles(page) == 0
    page.click("#privacy-edit")  # back to the message, nothing sent
    assert page.evaluate("document.activeElement.id") == "prompt" and page.is_hidden("#privacy-warning")
    page.click("#send")
    page.click("#privacy-send")  # the volunteer decides to send it anyway
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    assert user_bubbles(page) == 1
    context.close()


def test_phones_show_a_and_b_as_tabs_with_the_message_box_pinned(live_server_asgi, browser, fake_openai, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    context, page = battle_page(browser, live_server_asgi, "unai", viewport={"width": 390, "height": 740})
    page.fill("#prompt", "Kaixo")
    page.click("#send")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    assert page.is_visible("#log-A") and not page.is_visible("#log-B")
    page.click("#tab-B")
    assert page.is_visible("#log-B") and not page.is_visible("#log-A")
    assert page.get_attribute("#tab-B", "aria-selected") == "true"
    page.keyboard.press("ArrowLeft")  # the tabs pattern: arrows move between A and B
    assert page.evaluate("document.activeElement.id") == "tab-A" and page.is_visible("#log-A")
    page.evaluate("() => window.scrollTo(0, 0)")
    box = page.locator("#prompt-form").bounding_box()
    assert box["y"] + box["height"] <= 740 + 1  # pinned: in view without scrolling down
    page.set_viewport_size({"width": 1200, "height": 900})  # wider screens: side by side, no tabs
    assert page.is_visible("#log-A") and page.is_visible("#log-B") and not page.is_visible("#tab-A")
    context.close()
