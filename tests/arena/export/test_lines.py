"""ebaluatoia lines (arena/export/lines.py; on PostgreSQL written by the database): the same bytes as
the encoded rows, for frozen and unfrozen transcripts, any text and any chunking."""
from __future__ import annotations

import pytest

from arena.export import ExportForm, ParticipantHasher
from arena.export import bundle as bundle_module
from arena.export import hashing as hashing_module
from arena.export import lines as lines_module
from arena.export.formats import ebaluatoia_line, ebaluatoia_rows
from arena.export.source import iter_vote_chunks
from arena.jsonio import dumps
from arena.models import Battle, Message, Vote, VoteTranscript
from models_serving.models import ServedModel
from tests.arena.factories import SALT, data_entry, freeze_all_transcripts, jsonl_rows, run_export, utc


@pytest.mark.parametrize("fmt, dimension", [("ebaluatoia", "overall"), ("lmsys", "content"), ("dpo", "all")])
def test_votes_with_frozen_transcripts_export_the_same_bytes(arena_data, fmt, dimension):
    """The fixture's votes were stored without the service (no transcripts): the export rebuilds them
    from the messages. Frozen as cast_vote freezes them, the export copies them: same bytes."""
    unfrozen, _ = run_export(format=fmt, file_type="jsonl", dimension=dimension, include_flagged="on")
    assert not VoteTranscript.objects.exists()
    freeze_all_transcripts(every=2)  # a mix in one chunk
    mixed, _ = run_export(format=fmt, file_type="jsonl", dimension=dimension, include_flagged="on")
    assert VoteTranscript.objects.count() == 3 and data_entry(mixed) == data_entry(unfrozen)
    freeze_all_transcripts()
    frozen, _ = run_export(format=fmt, file_type="jsonl", dimension=dimension, include_flagged="on")
    assert data_entry(frozen) == data_entry(unfrozen)
    assert len(jsonl_rows(data_entry(frozen))) >= 3


@pytest.mark.parametrize("frozen", [False, True], ids=["unfrozen", "frozen"])
@pytest.mark.parametrize("name", ['Latxa "8B"', "Eus\\ko\nGPT", "Txantxa-ñ-€-𝄞", "<b>&amp;</b>", "\u2028 \x1f\x7f"])
def test_ebaluatoia_lines_are_the_encoded_rows(arena_data, name, frozen):
    """ebaluatoia lines are not encoded from row dicts (on PostgreSQL the database writes them):
    the same bytes as the row encoded by the JSON library, for any text and microsecond times."""
    ServedModel.objects.filter(public_name="Latxa-8B").update(public_name=name, system_prompt=f"{name}\t\"!")
    Battle.objects.filter(model_a__public_name=name).update(snapshot_a={"system_prompt": f"{name}\b"})
    Message.objects.filter(role="user").update(content=f"{name} {name[::-1]}")
    Vote.objects.update(basque_level=name[:10], education=name[::-1][:20])
    Vote.objects.filter(overall="A").update(created_at=utc(7).replace(microsecond=1234))
    if frozen:
        freeze_all_transcripts()
    files, _ = run_export(format="ebaluatoia", file_type="jsonl", include_flagged="on")
    options = ExportForm(data={"format": "ebaluatoia", "include_flagged": "on"})
    assert options.is_valid()
    records = [record for chunk in iter_vote_chunks(options.to_options(), ParticipantHasher(SALT.encode()))
               for record in chunk]
    assert any(name in (record.model_a, record.model_b) for record in records)
    assert any(record.voted_at.microsecond for record in records)
    expected = b"".join(dumps(row) + b"\n" for record in records for row in ebaluatoia_rows(record, "overall"))
    assert data_entry(files) == expected
    assert [ebaluatoia_line(record).encode() for record in records] == expected.splitlines()


def test_small_chunks_and_a_full_participant_cache_change_nothing(arena_data, monkeypatch):
    """Chunk edges and the bounded participant caches (on PostgreSQL: public ids sent by the reader
    thread, started over when full) must not change a byte."""
    expected, _ = run_export(format="ebaluatoia", file_type="jsonl", include_flagged="on")
    monkeypatch.setattr(lines_module, "MAX_CACHED", 1)
    monkeypatch.setattr(hashing_module, "MAX_CACHED", 1)
    monkeypatch.setattr(bundle_module, "DEFAULT_CHUNK_SIZE", 1)
    files, export = run_export(format="ebaluatoia", file_type="jsonl", include_flagged="on")
    assert data_entry(files) == data_entry(expected) and files["flags.jsonl"] == expected["flags.jsonl"]
    assert export.manifest["counts"]["votes"] == 5
