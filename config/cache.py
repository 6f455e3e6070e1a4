"""A Redis cache that degrades instead of failing while Redis is down or restarting.

Everything the arena caches (published leaderboards, the refresh throttle, rendered plots, the
sampling state) can be recomputed, so an outage must cost speed, never a page: reads miss, writes
are dropped, and each failure is logged once per call. Django's own RedisCache raises instead.
"""
from __future__ import annotations

import logging

from django.core.cache.backends.redis import RedisCache
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


class ResilientRedisCache(RedisCache):
    get = _degrade("get", lambda key, default=None, version=None: default)
    get_many = _degrade("get_many", {})
    has_key = _degrade("has_key", False)
    set = _degrade("set", None)
    set_many = _degrade("set_many", [])
    add = _degrade("add", False)  # a lock or throttle that cannot be taken is not taken
    touch = _degrade("touch", False)
    delete = _degrade("delete", False)
    delete_many = _degrade("delete_many", None)
