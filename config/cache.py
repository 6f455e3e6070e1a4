"""A Redis cache that degrades instead of failing while Redis is down or restarting.

Everything the arena caches (published leaderboards, the refresh throttle, rendered plots, the
sampling state) can be recomputed, so an outage must cost speed, never a page: reads miss, writes
are dropped, and each failure is logged once per call. Django's own RedisCache raises instead.
"""
from __future__ import annotations

import logging
import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError)


def _degrade(name: str, fallback):
    def method(self, *args, **kwargs):
        try:
            return getattr(super(ResilientRedisCache, self), name)(*args, **kwargs)
        except OUTAGE as exc:
            logger.warning("cache %s skipped, Redis unavailable: %s", name, exc)
            return fallback(*args, **kwargs) if callable(fallback) else fallback

    method.__name__ = name
    return method


class SharedPoolRedisCacheClient(RedisCacheClient):
    """Connection pools shared by every cache object of the process. Django makes a cache object, and
    with it a new pool, per thread (per request context under ASGI, where each request runs in a new
    thread): every request opened a new TCP connection to Redis (profiled in the vote view,
    bench/vote_ingest.py). redis-py's pools are thread-safe and reset themselves after a fork."""

    _shared: dict = {}
    _lock = threading.Lock()

    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], tuple(sorted((k, repr(v)) for k, v in self._pool_options.items())))
        pool = self._shared.get(key)
        if pool is None:
            with self._lock:
                pool = self._shared.get(key)
                if pool is None:
                    pool = self._shared[key] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return pool


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    get = _degrade("get", lambda key, default=None, version=None: default)
    get_many = _degrade("get_many", {})
    has_key = _degrade("has_key", False)
    set = _degrade("set", None)
    set_many = _degrade("set_many", [])
    add = _degrade("add", False)  # a lock or throttle that cannot be taken is not taken
    touch = _degrade("touch", False)
    delete = _degrade("delete", False)
    delete_many = _degrade("delete_many", None)
