"""Arena fixtures: participants, registered models on a fake OpenAI server, WebSocket helpers."""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from arena import selectors, services
from arena.models import ArenaConfig, ConsentText
from models_serving.models import ServedModel
from models_serving.vllm_process import free_port
from tests.support.fake_openai import FakeOpenAIServer


@pytest.fixture(scope="session")
def fake_openai():
    server = FakeOpenAIServer(free_port()).start()
    yield server
    server.stop()


def consent_text() -> ConsentText:
    """The migration's consent text; transactional tests flush it, so recreate it when missing."""
    return selectors.active_consent() or ConsentText.objects.create(
        version="test-v1", text_eu="Onartzen dut.", text_es="Acepto.", text_en="I agree."
    )


def arena_config(**fields) -> ArenaConfig:
    """The arena's settings with ``fields`` changed and saved, as an admin would."""
    config = ArenaConfig.current()
    for name, value in fields.items():
        setattr(config, name, value)
    config.save()
    return config


def make_participant(username: str = "ane", password: str = "Mendia-2026-pass", **profile):
    profile = {"basque_level": "C1-C2", "education": "university", **profile}
    return services.register_participant(
        username=username, email=f"{username}@example.org", password=password, profile=profile,
        consent=consent_text(), language="eu",
    )


def register_model(name: str, served_name: str, base_url: str, **fields) -> ServedModel:
    return ServedModel.objects.create(
        public_name=name, served_name=served_name, endpoint_url=base_url, kind=ServedModel.Kind.EXTERNAL,
        **fields,
    )


@pytest.fixture
def participant(db):
    return make_participant()


@pytest.fixture
def echo_models(db, fake_openai):
    return [
        register_model("Latxa-Proba-Alfa", "echo-alpha", fake_openai.base_url, system_prompt="Zu Alfa zara."),
        register_model("Latxa-Proba-Beta", "echo-beta", fake_openai.base_url, system_prompt="Zu Beta zara."),
    ]


def session_cookie(user) -> str:
    """A real logged-in session for ``user``, as the browser would carry it."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def connect(user=None, origin: str = "http://localhost", path: str = "/ws/battle/", cookie: str = ""):
    """Open a WebSocket through the real ASGI stack: origin check, session and auth middleware."""
    from channels.db import database_sync_to_async

    from config.asgi import application

    if user is not None and not cookie:
        cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def collect_turn(communicator, frames: list, timeout: float = 20) -> dict:
    """Read frames until the turn is done (or an error ends the exchange); return the last frame."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == "turn_done" or (frame["type"] == "error" and frame["code"] != "model_failed"):
            return frame




@pytest.fixture
def arena_data(db):
    """The export's data set: three volunteers (one later deletes the account), three models, five
    votes stored without the service (one flagged) and one unvoted battle; exports allowed (salt set)."""
    from django.test import override_settings

    from tests.arena.factories import EXPORT_SETTINGS, PEOPLE, make_person, make_vote, participant_hash, utc

    latxa = ServedModel.objects.create(public_name="Latxa-8B", system_prompt="Erantzun beti euskaraz.")
    gemma = ServedModel.objects.create(public_name="Gemma-Eus", system_prompt="")
    llama = ServedModel.objects.create(public_name="Llama-Eus", system_prompt="Zu laguntzaile atsegina zara.")
    ane, jon, miren = (make_person(*person) for person in PEOPLE)
    battles = {
        "single": make_vote(ane, latxa, gemma, [("Zein da Euskal Herriko mendirik altuena?", "Hiru Errege Mahaia.", "Aneto.")],
                            "A", "A", "A", at=utc(1)),
        "two_turns": make_vote(jon, gemma, llama, [
            ("Idatzi olerki labur bat itsasoari buruz.", "Itsasoa urdin, zerua zabal.", "Olatuak datoz, olatuak doaz."),
            ("Orain luzeagoa, mesedez.", "Itsaso handi, ur gazi, bihotz zabal.", "Olatuen kantua, haizearen dantza."),
        ], "B", "tie", "B", at=utc(2)),
        "both_bad": make_vote(miren, latxa, llama, [("Zenbat da bi gehi bi?", "Bost.", "Hiru.")],
                              "tie", "tie", "both_bad", at=utc(3)),
        "flagged": make_vote(ane, llama, latxa, [("Kaixo!", "Kaixo, zer moduz?", "Kaixo! Zertan lagun dezaket?")],
                             "B", "A", "A", at=utc(4), reasons=["too_fast", "identity_leak"]),
        "mixed": make_vote(jon, latxa, gemma, [("Nola esaten da 'cat' euskaraz?", "Katua.", "Katu.")],
                           "A", "B", "tie", at=utc(5)),
    }
    make_vote(ane, latxa, llama, [("Ez da bozkatu.", "Bai.", "Ez.")], "", "", "", at=utc(6), status="ready")
    raw = [{"username": u, "email": e, "first": f, "last": lname} for u, e, f, lname, *_ in PEOPLE]
    for person, participant in zip(raw, (ane, jon, miren)):
        person["public_id"] = str(participant.public_id)
    # The account goes; the vote stays, re-keyed: a new public id (so a new hash) and a new battle id.
    services.delete_participant(participant=miren)
    raw[2]["public_id"] = str(miren.public_id)
    battles["both_bad"] = miren.battles.get()
    for person in raw:
        person["hash"] = participant_hash(person["public_id"])
    with override_settings(ARENA=EXPORT_SETTINGS):
        yield {"battles": battles, "people": raw, "models": (latxa, gemma, llama)}


def sign_up_in_browser(page, username: str, password: str) -> None:
    """Fill the open sign-up page as a native speaker with a degree, accept, and wait until the battle
    page can send."""
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.select_option("#id_basque_level", "native")
    page.select_option("#id_education", "university")
    page.check("#id_age_confirmed")
    page.check("#id_consent")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url("**/battle/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
