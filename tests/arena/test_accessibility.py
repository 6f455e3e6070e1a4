"""axe-core (axe-playwright-python's bundled axe.min.js) on every page, in eu, es and en, logged in
and out, on a phone-sized screen, including the battle page mid-stream, at the vote and after the
reveal: no serious or critical violation.

ARENA_AXE_REPORT=/path.json keeps every violation found (any impact) for the README's figures.
"""
from __future__ import annotations

import json
import os

import pytest

from tests.arena.conftest import consent_text, make_participant, register_model, session_cookie
from tests.arena.factories import make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LOGGED_OUT = ["/", "/about/", "/faq/", "/privacy/", "/contact/", "/leaderboard/", "/benchmarks/", "/login/",
              "/login/?next=/battle/", "/account/signup/", "/account/password/reset/", "/campaign/", "/contributors/"]
LOGGED_IN = ["/", "/contributions/", "/account/data/", "/leaderboard/", "/benchmarks/", "/contributors/"]
DARK = ["/", "/faq/", "/login/?next=/battle/", "/account/signup/"]
BLOCKING = {"serious", "critical"}


def audit(page, where: str, found: list[dict]) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    for violation in results.response["violations"]:
        found.append({"page": where, "id": violation["id"], "impact": violation["impact"],
                      "nodes": [node["target"] for node in violation["nodes"]][:5]})


def keep_report(language: str, found: list[dict], audited: list[str]) -> None:
    path = os.environ.get("ARENA_AXE_REPORT")
    if not path:
        return
    report = json.load(open(path)) if os.path.exists(path) else {}
    report[language] = {"pages": audited, "violations": found}
    with open(path, "w") as handle:
        json.dump(report, handle, indent=1)


def new_context(browser, server, language: str, user=None, scheme: str = "light"):
    # bypass_csp: axe is injected with page.evaluate, which the site's CSP (no 'unsafe-eval') would refuse.
    context = browser.new_context(viewport=PHONE, bypass_csp=True, color_scheme=scheme)
    cookies = [{"name": "arena_language", "value": language, "url": server.url}]
    if user is not None:
        cookies.append({"name": "sessionid", "value": session_cookie(user).split("=", 1)[1], "url": server.url})
    context.add_cookies(cookies)
    return context


@pytest.mark.parametrize("language", ["eu", "es", "en"])
def test_no_serious_or_critical_axe_violation(live_server_asgi, browser, fake_openai, monkeypatch, language):
    from django.core.cache import cache

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()  # the leaderboard starts empty whatever ran before in this process
    consent_text()
    slow = [register_model("Eredu-Motela-1", "slow", fake_openai.base_url),
            register_model("Eredu-Motela-2", "slow", fake_openai.base_url, temperature=0.5)]
    # A running campaign with targets and a raffle: home, battle and campaign pages show its progress bars.
    make_campaign("axe", models=slow, targets=[10, 10], vote_target=50, votes_per_raffle_entry=2)
    found: list[dict] = []
    audited: list[str] = []

    context = new_context(browser, live_server_asgi, language)
    page = context.new_page()
    for path in LOGGED_OUT:
        page.goto(live_server_asgi.url + path)
        audit(page, "out " + path, found)
        audited.append("out " + path)
    page.goto(live_server_asgi.url + "/account/signup/")
    page.click("form.stacked button[type=submit]")  # every error shown beside its field
    audit(page, "out signup with errors", found)
    audited.append("out signup with errors")
    context.close()

    context = new_context(browser, live_server_asgi, language, scheme="dark")  # the dark theme's contrast
    page = context.new_page()
    for path in DARK:
        page.goto(live_server_asgi.url + path)
        audit(page, "dark " + path, found)
        audited.append("dark " + path)
    context.close()

    context = new_context(browser, live_server_asgi, language, make_participant(f"axe-{language}").user)
    page = context.new_page()
    for path in LOGGED_IN:
        page.goto(live_server_asgi.url + path)
        audit(page, "in " + path, found)
        audited.append("in " + path)
    page.goto(live_server_asgi.url + "/battle/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    audit(page, "battle ready", found)
    page.fill("#prompt", "Idatzi ane@example.org helbidera")
    page.click("#send")
    page.wait_for_selector("#privacy-warning:not([hidden])")
    audit(page, "battle privacy warning", found)
    page.click("#privacy-send")
    page.wait_for_function("() => document.querySelectorAll('.msg.streaming').length === 2"
                           " && document.querySelector('.msg.streaming').textContent.length > 20", timeout=30000)
    audit(page, "battle mid-stream", found)
    page.click("#stop")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    page.check('input[name="content"][value="A"]')
    page.check('input[name="language"][value="A"]')
    audit(page, "battle vote form", found)
    page.check('input[name="overall"][value="A"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    audit(page, "battle after reveal", found)
    page.goto(live_server_asgi.url + "/leaderboard/")  # now with a (preliminary) model row
    audit(page, "in /leaderboard/ with a vote", found)
    audited += ["battle ready", "battle privacy warning", "battle mid-stream", "battle vote form",
                "battle after reveal", "in /leaderboard/ with a vote"]
    context.close()

    keep_report(language, found, audited)
    blocking = [violation for violation in found if violation["impact"] in BLOCKING]
    assert not blocking, json.dumps(blocking, indent=1, ensure_ascii=False)


NARROWEST = {"width": 320, "height": 640}
WIDEST = ("() => Array.from(document.querySelectorAll('main *')).filter((e) => e.getBoundingClientRect().right > 321)"
          ".slice(-3).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))")


def test_no_page_scrolls_sideways_at_320px(live_server_asgi, browser, fake_openai, monkeypatch):
    """Mobile first: every page fits a 320 px screen (long Basque words wrap instead of overflowing)."""
    from django.core.cache import cache

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()  # the leaderboard starts empty whatever ran before in this process
    consent_text()
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    overflowing = {}
    for language in ("eu", "es"):
        context = browser.new_context(viewport=NARROWEST)
        context.add_cookies([{"name": "arena_language", "value": language, "url": live_server_asgi.url},
                             {"name": "sessionid", "url": live_server_asgi.url,
                              "value": session_cookie(make_participant(f"txiki-{language}").user).split("=", 1)[1]}])
        page = context.new_page()
        for path in sorted(set(LOGGED_OUT + LOGGED_IN + ["/battle/"])):
            page.goto(live_server_asgi.url + path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > NARROWEST["width"]:
                overflowing[f"{language} {path}"] = (width, page.evaluate(WIDEST))
        page.goto(live_server_asgi.url + "/battle/")
        page.wait_for_function("() => !document.getElementById('send').disabled")
        page.fill("#prompt", "Euskalherrikoiztasunaren-aldeko-kanpainaren-antolatzaileekin " * 3)
        page.click("#send")
        page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > NARROWEST["width"]:
            overflowing[f"{language} battle with long words"] = width
        for name in ("content", "language", "overall"):
            page.check(f'input[name="{name}"][value="A"]')
        page.click("#submit-vote")
        page.wait_for_selector("#reveal:not([hidden])")
        page.goto(live_server_asgi.url + "/leaderboard/")  # now with model rows
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > NARROWEST["width"]:
            overflowing[f"{language} /leaderboard/ with votes"] = (width, page.evaluate(WIDEST))
        context.close()
    assert not overflowing, overflowing
