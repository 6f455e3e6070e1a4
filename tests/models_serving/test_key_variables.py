"""Which environment variables may hold an endpoint's API key, and what the admin's endpoint check tells.

A staff user with only the model-registry permissions must not be able to send the site's own
secrets (``DJANGO_SECRET_KEY``, ``DATABASE_URL``, …) as a Bearer token to a server of their choice,
nor use the registration check to learn which ports of which hosts answer.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from models_serving import client, validation
from models_serving.client import Endpoint, EndpointError, listed_models
from models_serving.models import ServedModel
from models_serving.validation import check_model
from models_serving.vllm_process import free_port

ADD_URL = reverse("admin:models_serving_servedmodel_add")
SITE_SECRET = "django-secret-key-that-must-never-leave-0123456789"


class RecordingEndpoint:
    """A fake OpenAI-compatible server that records every Authorization header it receives.

    ``/v1/models`` lists ``echo-alpha``; ``/missing/v1/models`` answers 404; ``/html/v1/models`` 200
    with a web page; ``/slow/v1/models`` answers after ``slow_seconds``."""

    def __init__(self, slow_seconds: float = 3.0):
        owner = self
        self.authorizations: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                owner.authorizations.append(self.headers.get("Authorization", ""))
                if self.path == "/v1/models":
                    self._answer(200, "application/json",
                                 json.dumps({"object": "list", "data": [{"id": "echo-alpha"}]}))
                elif self.path == "/html/v1/models":
                    self._answer(200, "text/html", "<html>router login</html>")
                elif self.path == "/slow/v1/models":
                    time.sleep(slow_seconds)
                    self._answer(200, "application/json", json.dumps({"data": [{"id": "echo-alpha"}]}))
                else:
                    self._answer(404, "text/plain", "not found")

            def _answer(self, status: int, content_type: str, body: str):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{prefix}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = RecordingEndpoint()
    yield server
    server.stop()


@pytest.fixture
def site_secrets(monkeypatch):
    """The site's own secrets, set in the environment as in a real deployment."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", SITE_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgres://arena:db-password-0123@db.internal/arena")


def external(url: str, **fields) -> ServedModel:
    return ServedModel(public_name="Kanpokoa", kind="external", endpoint_url=url, served_name="echo-alpha", **fields)


def errors_of(model: ServedModel) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        check_model(model)
    return refused.value.message_dict


@pytest.fixture
def registry_staff(db):
    """A staff user with only the model registry's permissions (not a superuser)."""
    user = get_user_model().objects.create_user(username="erregistroa", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="models_serving"))
    client = Client()
    client.force_login(user)
    client.cookies["arena_language"] = "en"
    return client


# ---------------------------------------------------------------- which variables may hold keys


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ARENA_EXPORT_SALT", "HOME",
                                  "ARENA_MODEL_KEY_", "ARENA_MODEL_KEY", "LATXA_KEY"])
def test_only_operator_allowed_variables_may_hold_keys(name):
    assert not client.key_env_allowed(name)


def test_the_prefix_and_the_allow_list_come_from_settings(settings):
    key_env_allowed = client.key_env_allowed
    assert key_env_allowed("ARENA_MODEL_KEY_LATXA")
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "API_KEY_ENV_PREFIX": "", "API_KEY_ENVS": ["LATXA_KEY"]}
    assert key_env_allowed("LATXA_KEY")
    assert not key_env_allowed("ARENA_MODEL_KEY_LATXA")  # no prefix: only the listed names
    assert not key_env_allowed("DJANGO_SECRET_KEY")
    # The site's own secrets stay refused even when an operator lists them by mistake.
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "API_KEY_ENV_PREFIX": "DJANGO_",
                               "API_KEY_ENVS": ["DATABASE_URL"]}
    assert not key_env_allowed("DJANGO_SECRET_KEY") and not key_env_allowed("DATABASE_URL")


def test_an_old_row_naming_a_site_secret_sends_nothing(recorder, site_secrets):
    """The check at use: an entry stored before the allow-list existed cannot leak the secret."""
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL"):
        endpoint = Endpoint(base_url=recorder.base_url, served_name="echo-alpha", api_key_env=name)
        with pytest.raises(EndpointError, match="may not hold an API key") as refused:
            endpoint.api_key()
        assert refused.value.before_first_token
        with pytest.raises(EndpointError):
            listed_models(endpoint)
    assert recorder.authorizations == []


def test_an_allowed_variable_is_sent(recorder, monkeypatch):
    monkeypatch.setenv("ARENA_MODEL_KEY_LATXA", "sk-latxa")
    endpoint = Endpoint(base_url=recorder.base_url, served_name="echo-alpha", api_key_env="ARENA_MODEL_KEY_LATXA")
    assert listed_models(endpoint) == {"echo-alpha"}
    assert recorder.authorizations == ["Bearer sk-latxa"]


def test_registration_refuses_a_site_secret_before_contacting_the_endpoint(recorder, site_secrets, db):
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL"):
        error = errors_of(external(recorder.base_url, api_key_env=name))["api_key_env"][0]
        assert "ARENA_MODEL_KEY_" in error and SITE_SECRET not in error
    assert recorder.authorizations == []


def test_registry_staff_cannot_send_the_secret_key_through_the_admin(registry_staff, recorder, site_secrets):
    response = registry_staff.post(ADD_URL, {
        "public_name": "Kanpokoa", "kind": "external", "endpoint_url": recorder.base_url,
        "served_name": "echo-alpha", "api_key_env": "DJANGO_SECRET_KEY", "temperature": "0.7", "top_p": "0.9",
        "max_tokens": "256", "arena_weight": "1", "is_active": "on"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "may hold API keys" in str(errors["api_key_env"])
    assert recorder.authorizations == [] and not ServedModel.objects.exists()
    # The form tells which names are allowed before anyone types one.
    page = registry_staff.get(ADD_URL).content.decode()
    assert "ARENA_MODEL_KEY_" in page


# ---------------------------------------------------------------- the check is no port scanner


def test_every_failing_endpoint_reads_the_same(recorder, monkeypatch, db):
    """Refused, 404, a web page, an unauthorised answer, a timeout or another model list: one message."""
    monkeypatch.setattr(validation, "LISTING_TIMEOUT", 1.0, raising=False)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    urls = [closed, recorder.url("missing"), recorder.url("html"), recorder.url("slow")]
    messages = []
    for url in urls:
        started = time.monotonic()
        errors = errors_of(external(url))
        elapsed = time.monotonic() - started
        assert list(errors) == ["endpoint_url"], errors
        messages.append(errors["endpoint_url"][0].replace(url, "URL"))
        # A refused port answers as late as a silent host: time does not tell them apart either.
        assert elapsed >= 1.0, (url, elapsed)
    other = external(recorder.base_url)
    other.served_name = "ez-dago"
    messages.append(errors_of(other)["endpoint_url"][0].replace(recorder.base_url, "URL").replace("ez-dago",
                                                                                                   "echo-alpha"))
    assert len(set(messages)) == 1, messages
    assert "did not answer a model list" in messages[0]
    for word in ("refused", "HTTP", "Connect", "404", "timed out", "reach"):
        assert word not in messages[0]


def test_a_working_endpoint_is_registered(recorder, monkeypatch, db):
    monkeypatch.setenv("ARENA_MODEL_KEY_LATXA", "sk-latxa")
    model = external(recorder.base_url + "/", api_key_env="ARENA_MODEL_KEY_LATXA")
    check_model(model)
    assert model.endpoint_url == recorder.base_url and recorder.authorizations == ["Bearer sk-latxa"]
