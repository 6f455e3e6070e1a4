"""The whole volunteer flow in Debian's Chromium: sign up, prompt, both panes stream, vote, reveal.

One side's model answers with script/onerror payloads: they must never run.
"""
from __future__ import annotations

import os
import shutil

import pytest

from models_serving.vllm_process import free_port
from tests.arena.conftest import consent_text, register_model
from tests.support.live_asgi import LiveASGIServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live_server_asgi(transactional_db):
    server = LiveASGIServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


def test_volunteer_flow(live_server_asgi, browser, fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    consent_text()
    register_model("Eredu-Maltzurra", "xss", fake_openai.base_url)
    register_model("Eredu-Jatorra", "echo-jatorra", fake_openai.base_url)
    frames: list[str] = []
    page = browser.new_page(locale="eu-ES")
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(live_server_asgi.url + "/account/signup/")
    assert page.locator("html").get_attribute("lang") == "eu"
    page.fill("#id_username", "nerea")
    page.fill("#id_password1", "Pintxoak-2026!")
    page.fill("#id_password2", "Pintxoak-2026!")
    page.select_option("#id_basque_level", "native")
    page.select_option("#id_education", "university")
    page.check("#id_age_confirmed")
    page.check("#id_consent")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url("**/battle/")
    page.wait_for_function("!document.getElementById('send').disabled")

    html_before_vote = page.content()
    page.fill("#prompt", "Kaixo! Zer moduz?")
    page.click("#send")
    assert page.is_disabled("#prompt")  # locked while answering
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    for side in "AB":
        assert page.inner_text(f"#log-{side} .msg.assistant").strip()
    assert page.evaluate("window.__pwned") is None
    assert not dialogs
    assert page.locator("#battle script").count() == 0 and page.locator("[onerror]").count() == 0
    # Nothing the browser received so far names a model.
    seen = "".join(frames) + html_before_vote + page.content()
    for secret in ("Eredu-Maltzurra", "Eredu-Jatorra", "echo-jatorra", fake_openai.base_url):
        assert secret not in seen
    # ARENA_SCREENSHOT=/path.png keeps a picture of the streamed battle for a person to look at.
    page.screenshot(path=os.environ.get("ARENA_SCREENSHOT", str(tmp_path / "battle.png")), full_page=True)

    page.check('input[name="content"][value="A"]')
    page.check('input[name="language"][value="A"]')
    assert page.is_checked('input[name="overall"][value="A"]')  # overall follows the agreeing answers
    page.check('input[name="overall"][value="both_bad"]')  # …and can be overridden
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    revealed = page.inner_text("#reveal")
    assert "Eredu-Maltzurra" in revealed and "Eredu-Jatorra" in revealed
    from arena.models import Vote

    assert Vote.objects.get().overall == "both_bad"
    page.click("#again")
    page.wait_for_function("document.getElementById('reveal').hidden && !document.getElementById('send').disabled")
    assert page.inner_text("#log-A") == ""


OVERALL_RULE = [  # (clicks in order, the overall choice then checked)
    ([("content", "A"), ("language", "A")], "A"),  # agreeing answers preselect overall
    ([("content", "B"), ("language", "B")], "B"),
    ([("content", "tie"), ("language", "tie")], None),  # a tie decides nothing
    ([("content", "A"), ("language", "B")], None),  # nor do disagreeing answers
    ([("content", "A"), ("language", "tie")], None),
    ([("overall", "tie"), ("content", "B"), ("language", "B")], "tie"),  # the volunteer's own choice stays
]


def test_overall_follows_the_agreeing_answers_until_the_volunteer_chooses(live_server_asgi, browser):
    """The rule battle.js applies to the vote form (the server stores whatever overall is sent)."""
    from tests.arena.conftest import make_participant, session_cookie

    consent_text()
    cookie = session_cookie(make_participant("koldo").user)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url}])
    page = context.new_page()
    seen = []
    for clicks, _expected in OVERALL_RULE:
        page.goto(live_server_asgi.url + "/battle/")  # a fresh form each time
        page.evaluate("document.getElementById('vote-form').hidden = false")  # as after a finished turn
        for name, value in clicks:
            page.check(f'input[name="{name}"][value="{value}"]')
        seen.append(page.evaluate("(document.querySelector('input[name=overall]:checked') || {}).value || null"))
    context.close()
    assert seen == [expected for _clicks, expected in OVERALL_RULE]
