"""The site's frame (templates/base.html) and its plain pages: titles, skip link, favicon, language
menu, about/FAQ/privacy/contact, and the log-in page that explains why it appeared."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.arena.factories import logged_in

PUBLIC = ["arena:home", "arena:about", "arena:faq", "arena:privacy", "arena:contact", "arena:leaderboard",
          "login", "arena:signup", "password_reset"]
PRIVATE = ["arena:battle", "arena:contributions", "arena:my_data"]


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


@pytest.mark.django_db
def test_every_page_has_its_own_title_a_skip_link_an_h1_and_the_favicon(participant):
    from tests.arena.conftest import consent_text

    consent_text()
    client = logged_in(participant)
    titles = {}
    for name in PUBLIC + PRIVATE:
        response = (client if name in PRIVATE else Client()).get(reverse(name))
        assert response.status_code == 200, name
        html = response.content.decode()
        titles[name] = title(html)
        assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html, name
        assert html.count("<h1") == 1, name
        assert 'rel="icon"' in html, name
    assert len(set(titles.values())) == len(titles), titles


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["eu", "es", "en"])
def test_language_menu_names_each_language_in_itself_and_has_a_button(language):
    client = Client()
    client.cookies["arena_language"] = language
    html = client.get(reverse("arena:home")).content.decode()
    menu = html[html.index('action="/i18n/setlang/"'):]
    menu = menu[:menu.index("</form>")]
    for code, endonym in (("eu", "Euskara"), ("es", "Español"), ("en", "English")):
        assert f'value="{code}" lang="{code}"' in menu and endonym in menu
    assert "Basque" not in menu
    assert '<button type="submit"' in menu and "data-submit-on-change" not in html  # WCAG 3.2.2


@pytest.mark.django_db
def test_a_logged_out_click_on_battle_explains_the_log_in_page():
    client = Client()
    client.cookies["arena_language"] = "en"
    response = client.get(reverse("arena:battle"), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "Log in or sign up to take part" in html
    assert "Log in or sign up to take part" not in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_contact_address_is_a_setting(settings):
    settings.ARENA = {**settings.ARENA, "CONTACT_EMAIL": "arena@example.eus"}
    assert "mailto:arena@example.eus" in Client().get(reverse("arena:contact")).content.decode()
    settings.ARENA = {**settings.ARENA, "CONTACT_EMAIL": ""}
    assert "mailto:" not in Client().get(reverse("arena:contact")).content.decode()


def test_favicon_is_served_from_static():
    from django.contrib.staticfiles import finders

    assert finders.find("arena/favicon.svg")


@pytest.mark.django_db
def test_error_pages_are_the_sites_own_and_translated():
    client = Client()
    client.cookies["arena_language"] = "eu"
    response = client.get("/ez-dago-orri-hau/")
    assert response.status_code == 404 and "Ez dago orri hori" in response.content.decode()
    strict = Client(enforce_csrf_checks=True)
    strict.cookies["arena_language"] = "es"
    response = strict.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403 and "El formulario ha caducado" in response.content.decode()
