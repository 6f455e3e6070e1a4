"""Participant hashes (arena/export/hashing.py): keyed by the secret salt, and no salt, no export."""
from __future__ import annotations

import pytest
from django.test import override_settings

from arena.export import Export, ExportConfigurationError, ExportForm
from tests.arena.factories import EXPORT_SETTINGS, data_entry, jsonl_rows, run_export


def test_same_salt_same_hash_and_another_salt_another(arena_data):
    def usernames() -> set[str]:
        return {row["username"] for row in jsonl_rows(data_entry(run_export(format="ebaluatoia")[0]))}

    first = usernames()
    assert first == usernames() == {person["hash"] for person in arena_data["people"]}
    with override_settings(ARENA={**EXPORT_SETTINGS, "EXPORT_SALT": "another-secret"}):
        assert usernames().isdisjoint(first)


@pytest.mark.parametrize("missing", ["", None])
def test_no_salt_no_export(arena_data, missing):
    form = ExportForm(data={"format": "ebaluatoia"})
    assert form.is_valid()
    with override_settings(ARENA={**EXPORT_SETTINGS, "EXPORT_SALT": missing}), pytest.raises(ExportConfigurationError):
        Export(form.to_options())
