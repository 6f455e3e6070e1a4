"""The exports' campaign filter (arena/export/options.py, source.py) and its record in the manifest."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import translation

from arena.export import ExportForm
from arena.models import Vote
from tests.arena.factories import data_entry, jsonl_rows, make_campaign, run_export


def test_campaign_filter_exports_only_its_votes_and_the_manifest_records_it(arena_data):
    campaign = make_campaign("martxoa", starts=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                             ends=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    chosen = [arena_data["battles"]["single"].pk, arena_data["battles"]["mixed"].pk]
    Vote.objects.filter(battle_id__in=chosen).update(campaign=campaign)
    files, export = run_export(format="ebaluatoia", file_type="jsonl", campaign="martxoa")
    manifest = json.loads(files["manifest.json"])
    assert manifest["filters"]["campaign"] == "martxoa"
    assert manifest["counts"]["votes"] == 2 == len(jsonl_rows(data_entry(files)))
    files, _ = run_export(format="ebaluatoia", file_type="jsonl")
    assert json.loads(files["manifest.json"])["filters"]["campaign"] == ""
    assert json.loads(files["manifest.json"])["counts"]["votes"] == 4  # all clean votes


@pytest.mark.django_db
def test_an_unknown_campaign_is_refused_by_name():
    form = ExportForm(data={"format": "ebaluatoia", "campaign": "ez-dago"})
    with translation.override("en"):
        assert not form.is_valid()
        assert form.error_dict()["campaign"] == ["Unknown campaign: ez-dago."]
