"""Database work from async code (the battle socket): a service or selector run in a worker thread.

Two things differ from Channels' ``database_sync_to_async``:

- **A thread pool, not one thread.** Channels' helper is thread-sensitive: its consumers have no
  ``ThreadSensitiveContext`` (Django's HTTP handler gives each request one), so the database work of
  every socket of a process ran in ONE thread. With 60 battles on one worker, prompts queued behind
  other sockets' answers and the first token took a second (bench/relay_scale.py, docs/relay.md).
  Each call here is one self-contained service or selector (its own transaction), so any thread of
  the event loop's pool will do.
- **Connections are closed inside the call.** Channels closes old connections outside the context the
  function ran in; with a pool of threads that left each thread's connection checked out of the
  PostgreSQL pool (psycopg_pool), which ran dry after ARENA_DB_POOL_MAX sockets (tests/arena/test_consumers.py).
"""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``func`` as an awaitable that runs in the event loop's thread pool, with clean connections."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()  # back to the pool (PostgreSQL), or closed

    return sync_to_async(run, thread_sensitive=False)
