"""config.async_db.in_db_thread: sockets' database work runs side by side (that each call gives its
connection back is checked end to end: tests/arena/test_consumers.py)."""
from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection

from config.async_db import in_db_thread

pytestmark = pytest.mark.django_db(transaction=True)


async def test_two_sockets_database_work_runs_side_by_side():
    """Channels' database_sync_to_async ran every socket's work in one thread: the second call would
    wait for the first, and this barrier for two would time out."""
    barrier = threading.Barrier(2, timeout=10)

    def query_then_meet():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return barrier.wait()  # both calls must be in the barrier at once

    arrivals = await asyncio.gather(in_db_thread(query_then_meet)(), in_db_thread(query_then_meet)())
    assert sorted(arrivals) == [0, 1]

