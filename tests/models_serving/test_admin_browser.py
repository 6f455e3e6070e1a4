"""The admin and the site in Debian's Chromium under the Content-Security-Policy: a real log-in through
the admin's form (django-axes on the ASGI path), the model registry's pages, the "test a model" page
streaming an answer, the language switcher and the battle page, without a single policy violation.

Waits use locators (``expect``), never ``page.wait_for_function("…")``: Playwright evaluates that string
in the page, which the policy (no 'unsafe-eval') refuses."""
from __future__ import annotations


import pytest
from django.contrib.auth import get_user_model

from models_serving.models import ServedModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Arrano-Beltza-1512"

# Runs before any page script: records every violation the browser reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watched:
    """A page whose CSP violations (events and console reports) and response headers are kept."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.page = context.new_page()
        self.console: list[str] = []
        self.violations: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text)
                     if "Content Security Policy" in message.text else None)

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        assert response.ok, (path, response.status)
        assert "script-src 'self'" in response.headers.get("content-security-policy", ""), path
        return response

    def collect(self) -> None:
        self.violations += self.page.evaluate("window.__csp || []")


def test_admin_and_site_work_under_the_policy(live_server_asgi, browser, listing_openai, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    get_user_model().objects.create_superuser("arduradun", "a@example.eus", PASSWORD)
    model = ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                                       served_name="echo-alpha")
    context = browser.new_context(locale="eu-ES")
    context.add_init_script(RECORD_VIOLATIONS)
    watched = Watched(context, live_server_asgi.url)
    page = watched.page

    # The admin's own log-in form (authenticate() with the request: django-axes counts it).
    watched.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "arduradun")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url("**/admin/")
    watched.collect()

    for path in ["/admin/models_serving/servedmodel/", "/admin/models_serving/servedmodel/add/",
                 f"/admin/models_serving/servedmodel/{model.pk}/change/", "/admin/arena/"]:
        watched.goto(path)
        watched.collect()
    # The changelist's action bar is Django's JavaScript: selecting a row must enable it.
    watched.goto("/admin/models_serving/servedmodel/")
    page.check("input.action-select")
    assert page.inner_text(".action-counter").strip().startswith("1")
    watched.collect()

    # "Test a model": the page's script (a static file now) streams the answer and the timings.
    watched.goto(f"/admin/models_serving/servedmodel/{model.pk}/try/")
    page.fill("#try-form textarea", "Kaixo, zer moduz?")
    page.click("#try-form [type=submit]")
    expect(page.locator("#try-timings")).to_contain_text("TTFT", timeout=30000)
    assert "Kaixo, zer moduz?" in page.inner_text("#try-answer")
    watched.collect()

    # The site's language switcher: choose, then its button (WCAG 3.2.2: no change on selection alone).
    watched.goto("/")
    assert page.locator("html").get_attribute("lang") == "eu"
    page.select_option("select[name=language]", "en")
    assert page.locator("html").get_attribute("lang") == "eu"
    with page.expect_navigation():
        page.click("form.language [type=submit]")
    assert page.locator("html").get_attribute("lang") == "en"
    watched.collect()

    assert watched.violations == [] and watched.console == [], (watched.violations, watched.console)
    context.close()


def test_the_battle_page_opens_its_socket_under_the_policy(live_server_asgi, browser, monkeypatch):
    """connect-src lets the battle page's WebSocket reach the site; its script runs from a file."""
    from playwright.sync_api import expect

    from tests.arena.conftest import consent_text, make_participant, session_cookie

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    consent_text()
    cookie = session_cookie(make_participant("amaia").user)
    context = browser.new_context(locale="eu-ES")
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_cookies([{"name": "sessionid", "value": cookie.split("=", 1)[1], "url": live_server_asgi.url}])
    watched = Watched(context, live_server_asgi.url)
    watched.goto("/battle/")
    expect(watched.page.locator("#send")).to_be_enabled(timeout=30000)
    watched.collect()
    assert watched.violations == [] and watched.console == [], (watched.violations, watched.console)
    context.close()
