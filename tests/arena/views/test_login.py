"""Log-in brute force: after a few wrong passwords for one username from one address, even the right
password is refused for a while, on the site's log-in page and the admin's, with a translated message."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "Gernika-1937-Zuhaitza"
SITE_LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="miren", password=PASSWORD, is_staff=True)


def attempt(client: Client, url: str, password: str, username: str = "miren", **extra):
    return client.post(url, {"username": username, "password": password, "next": "/"}, **extra)


def fail_until_locked(client: Client, url: str, **extra) -> None:
    """AXES_FAILURE_LIMIT wrong passwords: the form again with its error, then (the last one) the lockout."""
    for count in range(1, settings.AXES_FAILURE_LIMIT + 1):
        status = attempt(client, url, "okerra", **extra).status_code
        assert status == (429 if count == settings.AXES_FAILURE_LIMIT else 200), count


@pytest.mark.parametrize("url", [SITE_LOGIN, ADMIN_LOGIN])
def test_wrong_passwords_lock_the_username_from_that_address(user, url):
    client = Client()
    client.cookies["arena_language"] = "en"
    fail_until_locked(client, url)
    locked = attempt(client, url, PASSWORD)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed log-in attempts" in page
    assert f"{settings.AXES_COOLOFF_TIME.total_seconds() / 60:.0f} minutes" in page
    assert 'name="password"' in page  # the log-in page itself, not a bare error
    assert "_auth_user_id" not in client.session
    if url == ADMIN_LOGIN:
        assert 'id="login-form"' in page  # the admin's own log-in page
    # Another address may still log in as that user; that address may still log in as another user.
    assert attempt(Client(), url, PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 302
    get_user_model().objects.create_user(username="jon", password=PASSWORD, is_staff=True)
    assert attempt(Client(), url, PASSWORD, username="jon").status_code == 302


def test_the_message_is_in_the_visitors_language(user):
    client = Client()  # Basque by default
    fail_until_locked(client, SITE_LOGIN)
    assert "saiakera gehiegi" in attempt(client, SITE_LOGIN, PASSWORD).content.decode()
    client.cookies["arena_language"] = "es"
    assert "Demasiados intentos" in attempt(client, SITE_LOGIN, PASSWORD).content.decode()


def test_the_lock_ends_after_the_cool_off(user, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    client = Client()
    fail_until_locked(client, SITE_LOGIN)
    assert attempt(client, SITE_LOGIN, PASSWORD).status_code == 429
    time.sleep(1.2)
    assert attempt(client, SITE_LOGIN, PASSWORD).status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, SITE_LOGIN, "okerra")
    assert attempt(client, SITE_LOGIN, PASSWORD).status_code == 302
    client = Client()
    attempt(client, SITE_LOGIN, "okerra")
    assert attempt(client, SITE_LOGIN, PASSWORD).status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_the_lock_holds_under_asgi(user):
    """The ASGI request path (what daphne/uvicorn run) locks out the same way."""
    client = AsyncClient()
    client.cookies["arena_language"] = "en"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        await client.post(ADMIN_LOGIN, {"username": "miren", "password": "okerra"})
    locked = await client.post(ADMIN_LOGIN, {"username": "miren", "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed log-in attempts" in locked.content.decode()


def test_behind_a_proxy_the_client_address_counts_not_the_proxys(user, settings):
    """With ARENA_TRUSTED_PROXY_COUNT proxies in front, the address the outermost one saw is the client's:
    clients behind one proxy are told apart, and addresses a client adds to X-Forwarded-For are ignored."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    fail_until_locked(Client(), SITE_LOGIN, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    locked = attempt(Client(), SITE_LOGIN, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert locked.status_code == 429
    # The locked client cannot escape by sending its own X-Forwarded-For (the proxy appends the real address).
    spoofed = attempt(Client(), SITE_LOGIN, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7", **proxy)
    assert spoofed.status_code == 429
    # Another client behind the same proxy is not locked out.
    other = attempt(Client(), SITE_LOGIN, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy)
    assert other.status_code == 302


def test_without_trusted_proxies_forwarded_headers_are_ignored(user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    fail_until_locked(Client(), SITE_LOGIN, HTTP_X_FORWARDED_FOR="198.51.100.7")
    # A different (forged) X-Forwarded-For from the same peer is the same client.
    assert attempt(Client(), SITE_LOGIN, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 429
