"""Queued research exports (arena/services/exports.py): a job whose worker died does not stay
"being prepared" for ever."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from arena import services, tasks
from arena.models import ExportJob
from arena.services import exports


def job(status: str, heartbeat_age: dt.timedelta | None) -> ExportJob:
    user = get_user_model().objects.create_user(f"ikerlari-{time.monotonic_ns()}")
    beat = None if heartbeat_age is None else timezone.now() - heartbeat_age
    return ExportJob.objects.create(requested_by=user, options={}, status=status, heartbeat_at=beat)


@pytest.mark.django_db
def test_running_exports_whose_worker_stopped_beating_are_failed():
    dead = job(ExportJob.Status.RUNNING, dt.timedelta(hours=1))
    alive = job(ExportJob.Status.RUNNING, dt.timedelta(seconds=5))
    waiting = job(ExportJob.Status.QUEUED, None)  # the worker may simply be down: it runs when back
    assert tasks.fail_stale_exports() == 1
    for each in (dead, alive, waiting):
        each.refresh_from_db()
    assert dead.status == ExportJob.Status.FAILED and "ask for it again" in dead.error and dead.finished_at
    assert alive.status == ExportJob.Status.RUNNING and waiting.status == ExportJob.Status.QUEUED
    assert services.fail_stale_exports() == 0


@pytest.mark.django_db(transaction=True)
def test_a_running_export_beats_even_while_no_vote_moves(monkeypatch):
    """A long query moves no vote; the heartbeat (written from its own thread) goes on all the same."""
    monkeypatch.setattr(exports, "EXPORT_PROGRESS_SECONDS", 0.05)
    running = job(ExportJob.Status.RUNNING, dt.timedelta(hours=1))
    progress = exports._ExportProgress(running.pk)
    time.sleep(0.5)
    progress.close()
    running.refresh_from_db()
    assert timezone.now() - running.heartbeat_at < dt.timedelta(seconds=5)
