"""An export run (arena/export/bundle.py): streaming, empty selections, privacy, the garbage collector."""
from __future__ import annotations

import gzip
import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from arena.export import Export, ExportForm
from arena.export import bundle as bundle_module
from tests.arena.factories import data_entry, jsonl_rows, run_export


@pytest.mark.parametrize("file_type", ["jsonl", "jsonl.gz", "parquet"])
def test_an_empty_selection_is_a_valid_export(arena_data, file_type):
    files, export = run_export(format="dpo", file_type=file_type, date_from="2030-01-01")
    assert json.loads(files["manifest.json"])["counts"]["rows"] == 0
    if file_type == "parquet":
        assert pq.read_table(io.BytesIO(data_entry(files))).num_rows == 0
    else:
        assert jsonl_rows(data_entry(files)) == []


def readable_text(files: dict[str, bytes]) -> str:
    """Every byte an export holds, decompressed and decoded, so a raw field cannot hide in compression."""
    parts = []
    for name, data in files.items():
        parts.append(name)
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            parts.append(json.dumps(table.to_pylist(), ensure_ascii=False))
            parts.append(str(table.schema.metadata))
        parts.append(data.decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_no_export_format_contains_any_raw_participant_field(arena_data, tmp_path):
    forbidden = []
    for person in arena_data["people"]:
        forbidden += [person["username"], person["email"], person["first"], person["last"], person["public_id"],
                      person["public_id"].replace("-", "")]
    forbidden += ["zuberera", "Souletin", "dialect", "age_band", "127.0.0.1"]  # free-text profile, IPs
    texts = []
    for fmt in ("ebaluatoia", "lmsys", "dpo"):
        for file_type in ("jsonl", "jsonl.gz", "parquet"):
            texts.append(readable_text(run_export(format=fmt, file_type=file_type, dimension="all" if fmt == "dpo"
                                                  else "overall", include_flagged="on")[0]))
    call_command("export_votes", format="ebaluatoia", file_type="hf", include_flagged=True,
                 output=str(tmp_path / "hf"), stdout=io.StringIO())
    for path in (tmp_path / "hf").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    everything = "\n".join(texts)
    assert arena_data["people"][0]["hash"] in everything  # the scan does see the data
    for value in forbidden:
        assert value.lower() not in everything.lower(), value


def test_streaming_sends_bytes_before_reading_every_vote(arena_data, monkeypatch):
    monkeypatch.setattr(bundle_module, "FLUSH_BYTES", 1)
    form = ExportForm(data={"format": "ebaluatoia", "file_type": "jsonl"})
    assert form.is_valid()
    export = Export(form.to_options(), chunk_size=1)
    chunks = export.iter_zip()
    assert next(chunks)
    assert export.stats.votes == 1  # one chunk of one vote read so far
    rest = b"".join(chunks)
    assert export.stats.votes == 4 and rest


@pytest.mark.parametrize("fail", [False, True])
def test_exports_leave_the_garbage_collector_as_they_found_it(arena_data, monkeypatch, fail):
    """Dict-based formats keep long-lived objects out of the collector while they run (speed); a
    server process must get it back afterwards, also when the export fails or is abandoned."""
    import gc

    seen_frozen = []
    real = bundle_module.ROW_BUILDERS["lmsys"]

    def build(record, dimension):
        seen_frozen.append(gc.get_freeze_count())
        if fail:
            raise RuntimeError("broken row")
        yield from real(record, dimension)

    monkeypatch.setitem(bundle_module.ROW_BUILDERS, "lmsys", build)
    before = gc.get_freeze_count()
    form = ExportForm(data={"format": "lmsys", "file_type": "jsonl"})
    assert form.is_valid()
    stream = Export(form.to_options()).iter_zip()
    if fail:
        with pytest.raises(RuntimeError, match="broken row"):
            b"".join(stream)
    else:
        assert b"".join(stream)
    assert seen_frozen and min(seen_frozen) > before
    assert gc.get_freeze_count() == before
