"""Models: the admin-edited settings are read without writing."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from arena import tasks
from arena.models import ArenaConfig


@pytest.mark.django_db
def test_reading_the_settings_never_creates_them():
    ArenaConfig.objects.all().delete()  # as on a database where no admin has saved them yet
    config = ArenaConfig.current()
    assert config.pk == ArenaConfig.SINGLETON_PK and config._state.adding  # unsaved
    assert (config.minimum_age, config.sampling_mode, config.both_bad_as_tie) == (14, "adaptive", True)
    client = Client()
    for name in ("arena:signup", "arena:leaderboard"):  # pages that read them
        assert client.get(reverse(name)).status_code in (200, 503), name
    tasks.refresh_leaderboard.delay()  # so does the leaderboard refresh (eager here)
    assert not ArenaConfig.objects.exists()


@pytest.mark.django_db
def test_the_saved_settings_are_the_ones_read():
    ArenaConfig.objects.all().delete()
    ArenaConfig(pk=ArenaConfig.SINGLETON_PK, minimum_age=16).save()
    assert ArenaConfig.current().minimum_age == 16
    assert not ArenaConfig.current()._state.adding
