"""The whole volunteer flow in Debian's Chromium: sign up, prompt, both panes stream, vote, reveal.

One side's model answers with script/onerror payloads: they must never run.
``wait_for_function`` predicates are written as functions (``"() => …"``): a bare expression is
eval'ed inside the page, which the site's Content-Security-Policy (no 'unsafe-eval') refuses.
"""
from __future__ import annotations

import os

import pytest

from tests.arena.conftest import consent_text, register_model, sign_up_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
    sign_up_in_browser(page, "nerea", "Pintxoak-2026!")

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
    assert page.is_visible("#overall-suggestion")  # overall is suggested by the agreeing answers…
    page.check('input[name="overall"][value="both_bad"]')  # …never filled in: the volunteer chooses
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    revealed = page.inner_text("#reveal")
    assert "Eredu-Maltzurra" in revealed and "Eredu-Jatorra" in revealed
    assert any('"type":"voted"' in frame for frame in frames) and posted == []  # over the socket, not HTTP
    from arena.models import Vote

    assert Vote.objects.get().overall == "both_bad"
    page.click("#again")
    page.wait_for_function("() => document.getElementById('reveal').hidden"
                           " && !document.getElementById('send').disabled")
    assert page.inner_text("#log-A") == ""


OVERALL_RULE = [  # (clicks in order, the overall choice then suggested)
    ([("content", "A"), ("language", "A")], "A"),  # agreeing answers suggest overall
    ([("content", "B"), ("language", "B")], "B"),
    ([("content", "tie"), ("language", "tie")], None),  # a tie decides nothing
    ([("content", "A"), ("language", "B")], None),  # nor do disagreeing answers
    ([("content", "A"), ("language", "tie")], None),
    ([("overall", "tie"), ("content", "B"), ("language", "B")], None),  # the volunteer has chosen already
]


def test_overall_is_suggested_by_the_agreeing_answers_never_filled_in(live_server_asgi, browser):
    """The rule battle.js applies to the vote form (the server stores whatever overall is sent)."""
    from tests.arena.conftest import make_participant, session_cookie

    consent_text()
    cookie = session_cookie(make_participant("koldo").user)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url},
                         {"name": "arena_language", "value": "en", "url": live_server_asgi.url}])
    page = context.new_page()
    seen, checked = [], []
    for clicks, _expected in OVERALL_RULE:
        page.goto(live_server_asgi.url + "/battle/")  # a fresh form each time
        page.evaluate("() => { document.getElementById('vote-form').hidden = false; }")  # as after a turn
        for name, value in clicks:
            page.check(f'input[name="{name}"][value="{value}"]')
        suggested = None
        if page.is_visible("#overall-suggestion"):
            text = page.inner_text("#overall-suggestion-text")
            suggested = "A" if "A is better" in text else "B" if "B is better" in text else "?"
        seen.append(suggested)
        checked.append(page.evaluate("(document.querySelector('input[name=overall]:checked') || {}).value || null"))
    context.close()
    assert seen == [expected for _clicks, expected in OVERALL_RULE]
    assert checked == [None] * 5 + ["tie"]  # nothing is ever checked but by the volunteer


def drop_websockets(server) -> int:
    """Abort the live server's open WebSocket connections the way a lost network does: no close frame,
    the page only sees its socket die (close code 1006), and the consumer sees a disconnect."""
    connections = [c for c in list(server.server.server_state.connections) if "WebSocket" in type(c).__name__]
    for connection in connections:
        connection.loop.call_soon_threadsafe(connection.transport.abort)
    return len(connections)


def test_a_dropped_connection_is_reopened_and_the_battle_resumed(live_server_asgi, browser, fake_openai, monkeypatch):
    import json

    from arena.models import Battle, Vote
    from tests.arena.conftest import make_participant, session_cookie

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    consent_text()
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    cookie = session_cookie(make_participant("amaia").user)
    context = browser.new_context(locale="eu-ES")
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url}])
    page = context.new_page()
    sent: list[str] = []
    received: list[str] = []
    page.on("websocket", lambda ws: (ws.on("framesent", lambda payload: sent.append(str(payload))),
                                     ws.on("framereceived", lambda payload: received.append(str(payload)))))
    page.goto(live_server_asgi.url + "/battle/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.fill("#prompt", "Kaixo **lagun**!")
    page.click("#send")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    page.check('input[name="content"][value="A"]')  # a choice made before the connection drops
    shown = {side: page.inner_html(f"#log-{side}") for side in "AB"}
    status = page.inner_text("#status")
    assert "<strong>" in shown["A"] or "<strong>" in shown["B"]  # rendered answers, not only text

    ready_again = ("() => !document.getElementById('send').disabled && !document.getElementById('vote-form').hidden"
                   " && document.getElementById('status').textContent === " + json.dumps(status))
    with page.expect_websocket(timeout=15000):  # the page opens a new socket by itself
        assert drop_websockets(live_server_asgi) == 1
        page.wait_for_function("() => document.getElementById('send').disabled")  # …after noticing the drop
    page.wait_for_function(ready_again, timeout=15000)
    resumes = [json.loads(frame) for frame in sent if '"resume"' in frame]
    restored = [json.loads(frame) for frame in received if '"resumed"' in frame]
    assert len(resumes) == 1 and len(restored) == 1 and restored[0]["can_vote"] is True
    assert resumes[0]["battle"] == restored[0]["battle"] == str(Battle.objects.get().pk)
    assert {side: page.inner_html(f"#log-{side}") for side in "AB"} == shown  # the same conversation
    assert page.is_checked('input[name="content"][value="A"]')  # and the vote form as it was

    page.reload()  # a phone's browser reloading a discarded tab: the battle comes back from sessionStorage
    page.wait_for_function(ready_again, timeout=15000)
    assert {side: page.inner_html(f"#log-{side}") for side in "AB"} == shown
    seen = "".join(sent + received) + page.content()
    for secret in ("Eredu-Bat", "Eredu-Bi", "echo-bat", "echo-bi", fake_openai.base_url):
        assert secret not in seen

    for name in ("content", "language", "overall"):
        page.check(f'input[name="{name}"][value="B"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])")
    assert Vote.objects.get().battle_id == Battle.objects.get().pk
    assert page.evaluate("sessionStorage.getItem('arena.battle')") is None  # voted: nothing to resume
    context.close()


def test_a_deleted_account_closes_the_page_socket_for_good(live_server_asgi, browser, fake_openai, monkeypatch):
    """The socket closes with 4410 when the account is deleted elsewhere; the page says so and does not
    keep reconnecting (it would only be refused again)."""
    import threading
    import time

    from arena import services
    from tests.arena.conftest import make_participant, session_cookie

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    participant = make_participant("garazi")
    context = browser.new_context(locale="en-GB")
    context.add_cookies([{"name": "sessionid", "value": session_cookie(participant.user).split("=", 1)[1],
                          "url": live_server_asgi.url}, {"name": "arena_language", "value": "en",
                                                         "url": live_server_asgi.url}])
    page = context.new_page()
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    page.goto(live_server_asgi.url + "/battle/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    # From another tab, as it were (a thread of its own: Playwright's loop runs in this one).
    deleting = threading.Thread(target=services.delete_participant, kwargs={"participant": participant})
    deleting.start()
    deleting.join(timeout=30)
    page.wait_for_function("() => document.getElementById('status').textContent.includes('no longer logged in')",
                           timeout=15000)
    time.sleep(2)  # longer than the first reconnect delay
    assert len(opened) == 1 and page.is_disabled("#send")
    context.close()


def test_a_vote_the_socket_does_not_answer_is_posted_instead(live_server_asgi, browser, fake_openai, monkeypatch):
    """The vote frame is lost on the way (the socket stays open): after a few seconds the page posts the
    vote to the vote view, which stores it once and answers with the reveal."""
    from arena.models import Vote
    from tests.arena.conftest import make_participant, session_cookie

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    register_model("Eredu-Bat", "echo-bat", fake_openai.base_url)
    register_model("Eredu-Bi", "echo-bi", fake_openai.base_url)
    cookie = session_cookie(make_participant("itziar").user)
    context = browser.new_context(locale="eu-ES")
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url}])
    page = context.new_page()
    dropped: list[str] = []

    def lose_votes(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda message: dropped.append(message) if '"type":"vote"' in str(message)
                      else server.send(message))

    page.route_web_socket("**/ws/battle/", lose_votes)
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)
    page.goto(live_server_asgi.url + "/battle/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.fill("#prompt", "Kaixo!")
    page.click("#send")
    page.wait_for_selector("#vote-form:not([hidden])", timeout=30000)
    for name in ("content", "language", "overall"):
        page.check(f'input[name="{name}"][value="tie"]')
    page.click("#submit-vote")
    page.wait_for_selector("#reveal:not([hidden])", timeout=15000)
    assert len(dropped) == 1 and [url for url in posted if url.endswith("/vote/")] == [
        f"{live_server_asgi.url}/battle/{Vote.objects.get().battle_id}/vote/"]
    assert "Eredu-Bat" in page.inner_text("#reveal") and Vote.objects.get().overall == "tie"
    context.close()
