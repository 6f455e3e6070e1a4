"""Adding checkpoints in the admin: bad input is refused with a clear error and nothing is left behind."""
from __future__ import annotations

import asyncio
import json
import socket
import pytest
from django.urls import reverse

from models_serving import live_stats, validation
from models_serving.models import ModelServer, ServedModel
from models_serving.selectors import available_models
from tests.models_serving.factories import fake_adapter, fake_full_checkpoint, timed_answers

ADD_URL = reverse("admin:models_serving_servedmodel_add")


@pytest.fixture(autouse=True)
def english_admin(request, settings):
    """The admin speaks Basque by default; these tests read its English messages."""
    if "admin_client" in request.fixturenames:
        request.getfixturevalue("admin_client").cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def form(**fields) -> dict:
    data = {"public_name": "Latxa Proba", "kind": "vllm_base", "temperature": "0.7", "top_p": "0.9",
            "max_tokens": "256", "arena_weight": "1", "is_active": "on"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def ndjson(response) -> list[dict]:
    """Read a streamed admin response (an async iterator, as served under ASGI)."""
    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    return [json.loads(line) for line in asyncio.run(collect()).decode().splitlines()]


def errors_of(response) -> dict:
    assert response.status_code == 200, "expected the form to be shown again with errors"
    return {field: [str(e) for e in errs] for field, errs in response.context["adminform"].form.errors.items()}


def test_base_checkpoint_is_validated_and_saved(admin_client, tmp_path, serving_dir):
    response = admin_client.post(ADD_URL, form(checkpoint_path=str(tmp_path / "ez-dago")))
    assert "does not exist" in errors_of(response)["checkpoint_path"][0]
    (tmp_path / "hutsik").mkdir()
    (tmp_path / "hutsik" / "config.json").write_text("{}")
    response = admin_client.post(ADD_URL, form(checkpoint_path=str(tmp_path / "hutsik")))
    assert "no weights" in errors_of(response)["checkpoint_path"][0]
    adapter = fake_adapter(tmp_path / "adapter", base="/x")
    response = admin_client.post(ADD_URL, form(checkpoint_path=str(adapter)))
    assert "LoRA adapter" in errors_of(response)["checkpoint_path"][0]
    assert not ServedModel.objects.exists()  # nothing half-registered

    folder = fake_full_checkpoint(tmp_path / "latxa")
    response = admin_client.post(ADD_URL, form(checkpoint_path=str(folder), backbone="Llama", recipe="sft-v1",
                                               training_run="run-42", system_prompt="Euskaraz erantzun."))
    assert response.status_code == 302, errors_of(response)
    model = ServedModel.objects.get()
    assert (model.served_name, model.backbone, model.training_run) == ("latxa-proba", "Llama", "run-42")
    # Not drawn into battles before its server answers for it.
    assert (model.health, model.last_error) == ("unhealthy", "waiting for its vLLM server")
    assert model not in available_models()


def test_adapter_needs_a_registered_base(admin_client, tmp_path, base, serving_dir):
    orphan = fake_adapter(tmp_path / "orphan", base="/ez/dago/oinarria")
    response = admin_client.post(ADD_URL, form(public_name="Egokitzailea", kind="vllm_lora",
                                               checkpoint_path=str(orphan)))
    error = errors_of(response)["base_model"][0]
    assert "/ez/dago/oinarria" in error and "not a registered" in error
    assert ServedModel.objects.count() == 1

    # The adapter names the registered base's folder: it is linked without choosing it.
    adapter = fake_adapter(tmp_path / "lora", base=base.checkpoint_path)
    response = admin_client.post(ADD_URL, form(public_name="Egokitzailea", kind="vllm_lora",
                                               checkpoint_path=str(adapter)))
    assert response.status_code == 302, errors_of(response)
    created = ServedModel.objects.get(public_name="Egokitzailea")
    assert created.base_model == base and created.served_name == "egokitzailea" and created.health == "unhealthy"
    assert "No server runs" in " ".join(str(m) for m in response.wsgi_request._messages)

    # Same served name as its base on the one server: refused.
    response = admin_client.post(ADD_URL, form(public_name="Bestea", kind="vllm_lora", served_name="oinarria",
                                               checkpoint_path=str(adapter), base_model=str(base.pk)))
    assert "already used on the same server" in errors_of(response)["served_name"][0]


def test_duplicate_public_name_is_refused_case_insensitively(admin_client, tmp_path, base):
    response = admin_client.post(ADD_URL, form(public_name="OINARRIA", checkpoint_path=base.checkpoint_path))
    assert "already registered" in errors_of(response)["public_name"][0]
    assert ServedModel.objects.count() == 1


def test_port_clash_is_refused(admin_client, tmp_path, base):
    base.server_port = 18999
    base.save()
    folder = fake_full_checkpoint(tmp_path / "bigarrena")
    response = admin_client.post(ADD_URL, form(public_name="Bigarrena", checkpoint_path=str(folder),
                                               server_port="18999"))
    assert "already assigned to Oinarria" in errors_of(response)["server_port"][0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        response = admin_client.post(ADD_URL, form(public_name="Bigarrena", checkpoint_path=str(folder),
                                                   server_port=str(port)))
        assert "already in use" in errors_of(response)["server_port"][0]
    assert ServedModel.objects.count() == 1


def test_external_endpoint_must_answer_and_keys_stay_out_of_the_database(admin_client, listing_openai, monkeypatch, db):
    monkeypatch.setattr(validation, "LISTING_TIMEOUT", 0.5)  # the least time a failing check takes
    external = dict(public_name="Kanpokoa", kind="external", served_name="echo-alpha")
    response = admin_client.post(ADD_URL, form(**external, endpoint_url="http://127.0.0.1:9/v1"))
    assert "did not answer a model list" in errors_of(response)["endpoint_url"][0]

    secret = "sk-live-0123456789abcdef"
    response = admin_client.post(ADD_URL, form(**external, endpoint_url=listing_openai.base_url, api_key_env=secret))
    error = errors_of(response)["api_key_env"][0]
    assert "never the API key" in error and secret not in error
    # Only the admin's own input field shows it again: no message, title or other field does.
    assert response.content.decode().count(secret) == 1
    response = admin_client.post(ADD_URL, form(**external, endpoint_url=listing_openai.base_url,
                                               api_key_env="ARENA_MODEL_KEY_TEST_UNSET"))
    assert "is not set" in errors_of(response)["api_key_env"][0]

    monkeypatch.setenv("ARENA_MODEL_KEY_TEST", secret)
    listing_openai.required_key = "wrong-key"
    try:
        response = admin_client.post(ADD_URL, form(**external, endpoint_url=listing_openai.base_url,
                                                   api_key_env="ARENA_MODEL_KEY_TEST"))
        assert "did not answer a model list" in errors_of(response)["endpoint_url"][0]
        listing_openai.required_key = secret
        response = admin_client.post(ADD_URL, form(**external, endpoint_url=listing_openai.base_url + "/",
                                                   api_key_env="ARENA_MODEL_KEY_TEST"))
        assert response.status_code == 302, errors_of(response)
    finally:
        listing_openai.required_key = None
    model = ServedModel.objects.get()
    assert model.api_key_env == "ARENA_MODEL_KEY_TEST" and model.endpoint_url == listing_openai.base_url
    stored = json.dumps(list(ServedModel.objects.values()), default=str)
    assert secret not in stored
    page = admin_client.get(reverse("admin:models_serving_servedmodel_change", args=[model.pk])).content.decode()
    assert secret not in page and "ARENA_MODEL_KEY_TEST" in page


def test_try_a_model_streams_the_answer_with_timings(admin_client, listing_openai, db):
    model = ServedModel.objects.create(public_name="Alfa", kind="external", endpoint_url=listing_openai.base_url,
                                       served_name="echo-alpha", system_prompt="Zu Alfa zara.")
    page = admin_client.get(reverse("admin:models_serving_servedmodel_try", args=[model.pk]))
    assert page.status_code == 200 and "Kaixo!" in page.content.decode()
    changelist = reverse("admin:models_serving_servedmodel_changelist")
    response = admin_client.post(changelist, {"action": "try_model", "_selected_action": [model.pk]})
    assert response.status_code == 302 and response["Location"].endswith(f"/{model.pk}/try/")

    stream_url = reverse("admin:models_serving_servedmodel_try_stream", args=[model.pk])
    response = admin_client.post(stream_url, {"prompt": "Zer moduz?"})
    assert response["Content-Type"] == "application/x-ndjson"
    events = ndjson(response)
    text = "".join(event.get("delta", "") for event in events)
    assert "Zer moduz?" in text and "sistema=Zu Alfa zara." in text
    done = events[-1]
    assert done["done"] and done["ttft_ms"] >= 0 and done["tokens"] > 1 and done["tokens_per_s"] > 0

    model.served_name = "down"
    model.save()
    events = ndjson(admin_client.post(stream_url))
    assert "error" in events[-1] and "503" in events[-1]["error"]


def test_changelist_shows_live_figures_and_server_log(admin_client, tmp_path, db):
    a = ServedModel.objects.create(public_name="Alfa", kind="vllm_base", checkpoint_path="/x")
    b = ServedModel.objects.create(public_name="Beta", kind="external", endpoint_url="http://127.0.0.1:9/v1")
    timed_answers(a, b)
    log = tmp_path / "alfa.log"
    log.write_text("INFO starting\nINFO Application startup complete.\n")
    server = ModelServer.objects.create(base=a, served_name="alfa", port=8123, status="running", log_path=str(log))
    live_stats.forget()
    page = admin_client.get(reverse("admin:models_serving_servedmodel_changelist")).content.decode()
    assert "200 ms" in page and "20.0" in page and "1/3" in page and "Running :8123" in page
    log_page = admin_client.get(reverse("admin:models_serving_modelserver_log", args=[server.pk])).content.decode()
    assert "Application startup complete." in log_page
    assert admin_client.get(reverse("admin:models_serving_modelserver_changelist")).status_code == 200


def test_stopping_a_recorded_server_never_signals_a_recycled_pid(admin_client, db):
    import os

    base = ServedModel.objects.create(public_name="Alfa", kind="vllm_base", checkpoint_path="/x", health="healthy")
    # The recorded pid now belongs to another process (this test run): it must survive the stop.
    server = ModelServer.objects.create(base=base, served_name="alfa", port=8123, pid=os.getpid(),
                                        hostname=socket.gethostname(), status="running")
    response = admin_client.post(reverse("admin:models_serving_modelserver_changelist"),
                                 {"action": "stop_servers", "_selected_action": [server.pk]}, follow=True)
    assert "Stopped alfa." in [str(m) for m in response.context["messages"]]
    server.refresh_from_db()
    base.refresh_from_db()
    assert server.status == "stopped" and base.health == "unhealthy"


def test_change_page_shows_only_the_kinds_fields_and_a_test_link(admin_client, db):
    external = ServedModel.objects.create(public_name="Kanpokoa", kind=ServedModel.Kind.EXTERNAL,
                                          endpoint_url="http://127.0.0.1:9/v1", served_name="kanpo")
    html = admin_client.get(reverse("admin:models_serving_servedmodel_change", args=[external.pk])).content.decode()
    assert 'name="endpoint_url"' in html and 'name="api_key_env"' in html
    for irrelevant in ("checkpoint_path", "base_model", "server_port", "server_dtype"):
        assert f'name="{irrelevant}"' not in html, irrelevant
    try_url = reverse("admin:models_serving_servedmodel_try", args=[external.pk])
    assert try_url in html  # reachable from the model's own page…
    listing = admin_client.get(reverse("admin:models_serving_servedmodel_changelist")).content.decode()
    assert try_url in listing  # …and from the list, not only through a bulk action
    add = admin_client.get(ADD_URL).content.decode()
    assert 'name="checkpoint_path"' in add and 'name="endpoint_url"' in add  # the kind is not chosen yet
