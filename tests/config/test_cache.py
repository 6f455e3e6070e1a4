"""Redis restarts: the cache degrades while it is down and works again once it is back."""
from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse


pytestmark = pytest.mark.faults


def resilient_cache(url: str):
    from config.cache import ResilientRedisCache

    return ResilientRedisCache(url, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})


def test_reads_miss_and_writes_are_dropped_while_redis_is_down_then_it_works_again(own_redis):
    cache = resilient_cache(own_redis.url)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    own_redis.kill()
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}
    assert cache.add("lock", True, 10) is False  # a lock that cannot be taken is not taken
    cache.set("k", "w")  # dropped, no exception
    cache.delete("k")
    own_redis.restart()  # same port, empty (no persistence), as a restarted Redis comes back
    assert cache.get("k") is None
    cache.set("k", "x")
    assert cache.get("k") == "x"


@pytest.mark.django_db
def test_the_leaderboard_page_still_answers_while_redis_is_down(own_redis):
    from tests.arena.factories import add_votes, make_models

    alpha, beta = make_models(2)
    add_votes([(alpha, beta, "A", "A", "A"), (beta, alpha, "tie", "B", "B")])
    caches = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": own_redis.url,
                          "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    with override_settings(CACHES=caches):  # Django swaps the cache connections with the setting
        client = Client()
        assert alpha.public_name in client.get(reverse("arena:leaderboard")).content.decode()
        own_redis.kill()
        assert alpha.public_name in client.get(reverse("arena:leaderboard")).content.decode()
        own_redis.restart()
        assert alpha.public_name in client.get(reverse("arena:leaderboard")).content.decode()


def test_cache_objects_of_one_process_share_their_redis_connections(own_redis):
    """Django builds a cache object per thread, and under ASGI every request runs in a new thread: each
    request opened its own connection to Redis. The pool is per process now."""
    import threading

    import redis

    def use_cache():
        cache = resilient_cache(own_redis.url)  # what each request thread gets
        cache.set("k", "v")
        assert cache.get("k") == "v"

    for _ in range(20):
        thread = threading.Thread(target=use_cache)
        thread.start()
        thread.join()
    clients = redis.Redis.from_url(own_redis.url).client_list()
    assert len(clients) <= 3, clients  # this check's own connection, and the one the cache objects share
