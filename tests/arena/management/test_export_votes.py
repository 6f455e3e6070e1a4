"""``manage.py export_votes``: atomic output, clear refusals, nothing left behind by a failure."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from arena.export import bundle as bundle_module
from arena.export import lines as lines_module
from arena.export import source as source_module


def test_command_writes_the_bundle_atomically(arena_data, tmp_path):
    out = io.StringIO()
    target = tmp_path / "votes.zip"
    call_command("export_votes", format="dpo", dimension="all", output=str(target), stdout=out)
    assert "7 rows" in out.getvalue() and "sha256" in out.getvalue()
    with zipfile.ZipFile(target) as bundle:
        assert bundle.namelist() == ["basque-arena-dpo-all.jsonl.gz", "manifest.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["votes.zip"]
    with pytest.raises(CommandError, match="exists"):
        call_command("export_votes", format="dpo", output=str(target), stdout=out)
    call_command("export_votes", format="lmsys", output=str(target), force=True, stdout=out)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "csv"}, "Unknown format: csv"),
        ({"file_type": "xlsx"}, "Unknown file type: xlsx"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "end date is before the start date"),
        ({"model": ["Latxa-8B", "GPT-Eus"]}, "Unknown model: GPT-Eus"),
        ({"format": "lmsys", "dimension": "all"}, "choose one dimension"),
        ({"basque_level": ["C3"]}, "Unknown Basque level: C3"),
    ],
)
def test_command_rejects_bad_options_clearly(arena_data, tmp_path, options, message):
    with translation.override("en"), pytest.raises(CommandError, match=message):
        call_command("export_votes", output=str(tmp_path / "x.zip"), **options)
    assert list(tmp_path.iterdir()) == []


def failing_after(count: int, seen: list, folder: Path, real):
    """A chunk reader of the vote source (``real``), losing its database after ``count`` chunks."""

    def chunks(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            if len(seen) == count:
                files = [p for p in folder.rglob("*") if p.is_file()]
                seen.append((len(files), sum(p.stat().st_size for p in files)))
                raise RuntimeError("database went away")
            seen.append(chunk)
            yield chunk

    return chunks


@pytest.mark.parametrize("file_type", ["jsonl.gz", "hf"])
def test_a_failed_export_leaves_nothing_on_disk_and_says_so(arena_data, tmp_path, monkeypatch, file_type):
    seen: list = []
    for module, name in ((source_module, "_orm_chunks"), (source_module, "prefetched_pg_chunks"),
                         (lines_module, "prefetched_pg_chunks")):  # SQLite and PostgreSQL readers
        monkeypatch.setattr(module, name, failing_after(3, seen, tmp_path, getattr(module, name)))
    monkeypatch.setattr(bundle_module, "FLUSH_BYTES", 1)
    monkeypatch.setattr(bundle_module, "DEFAULT_CHUNK_SIZE", 1)
    with pytest.raises(CommandError, match="failed after reading 3 votes .*database went away.*nothing was written"):
        call_command("export_votes", format="ebaluatoia", file_type=file_type, output=str(tmp_path / "out"))
    files_then, _bytes = seen[-1]
    assert files_then >= 1  # it failed midway, with the temporary output open
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_command_exports_one_campaigns_votes_and_names_it_in_the_manifest(tmp_path):
    import json

    from tests.arena.factories import add_campaign_votes, make_campaign, make_models, make_voter

    models = make_models(2)
    voter = make_voter()
    spring, autumn = make_campaign("udaberria"), make_campaign("udazkena")
    add_campaign_votes(spring, voter, models, 2)
    add_campaign_votes(autumn, voter, models, 3)
    target = tmp_path / "votes.zip"
    out = io.StringIO()
    call_command("export_votes", campaign="udazkena", output=str(target), stdout=out)
    with zipfile.ZipFile(target) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["counts"]["votes"] == 3 and manifest["filters"]["campaign"] == "udazkena"
    with translation.override("en"), pytest.raises(CommandError, match="Unknown campaign: negua"):
        call_command("export_votes", campaign="negua", output=str(tmp_path / "x.zip"))
