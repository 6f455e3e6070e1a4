"""Exports leave out conversations with personal data (unless asked) and those a moderator hid (always),
count them in the manifest, and carry the volunteers' reactions in reactions.jsonl."""
from __future__ import annotations

import json

import pytest

from arena.export import ExportForm
from arena.export.source import matching_votes
from arena.models import Battle, Message, Reaction
from tests.arena.factories import data_entry, jsonl_rows, run_export

FORMATS = [("ebaluatoia", "jsonl"), ("lmsys", "jsonl"), ("dpo", "jsonl"), ("ebaluatoia", "parquet")]


def exported_ids(files) -> set[str]:
    data = data_entry(files)
    if data[:4] == b"PAR1":
        import io

        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        return set(table.column("id" if "id" in table.column_names else "question_id").to_pylist())
    return {row.get("id") or row.get("question_id") for row in jsonl_rows(data)}


@pytest.fixture
def withheld(arena_data):
    battles = arena_data["battles"]
    Battle.objects.filter(pk=battles["single"].pk).update(privacy_flags=["email"])
    Battle.objects.filter(pk=battles["mixed"].pk).update(hidden=True, privacy_flags=["phone"])
    return arena_data


@pytest.mark.django_db
@pytest.mark.parametrize(("fmt", "file_type"), FORMATS)
def test_personal_data_left_out_by_default_and_counted(withheld, fmt, file_type):
    battles = withheld["battles"]
    files, _ = run_export(format=fmt, file_type=file_type, dimension="content")
    ids = exported_ids(files)
    assert str(battles["single"].pk) not in ids and str(battles["mixed"].pk) not in ids
    assert str(battles["two_turns"].pk) in ids or fmt == "dpo"
    manifest = json.loads(files["manifest.json"])
    assert manifest["withheld"] == {"hidden_by_moderators": 1, "personal_data": 1, "personal_data_included": 0}
    assert manifest["filters"]["include_personal_data"] is False
    # What is written is what the manifest counts: 5 votes, 1 quality-flagged, 2 withheld.
    assert manifest["counts"]["votes"] == 2


@pytest.mark.django_db
def test_asked_for_personal_data_comes_but_hidden_never(withheld):
    battles = withheld["battles"]
    files, _ = run_export(format="ebaluatoia", file_type="jsonl", include_personal_data="on", include_flagged="on")
    ids = exported_ids(files)
    assert str(battles["single"].pk) in ids and str(battles["mixed"].pk) not in ids
    manifest = json.loads(files["manifest.json"])
    assert manifest["withheld"] == {"hidden_by_moderators": 1, "personal_data": 0, "personal_data_included": 1}
    assert manifest["counts"]["votes"] == 4


@pytest.mark.django_db
def test_the_count_for_the_page_leaves_them_out_too(withheld):
    form = ExportForm(data={"format": "ebaluatoia"})
    assert form.is_valid()
    assert matching_votes(form.to_options()).count() == 2


@pytest.mark.django_db
def test_reactions_file_per_exported_vote(arena_data):
    battles = arena_data["battles"]
    single, two_turns = battles["single"], battles["two_turns"]
    answer = {(m.battle_id, m.turn, m.side): m for m in Message.objects.filter(role="assistant")}
    react = [(single, 0, "A", "useful"), (single, 0, "B", "wrong"), (single, 0, "B", "bad_basque"),
             (two_turns, 0, "A", "mixed_languages"), (two_turns, 1, "A", "mixed_languages")]
    for battle, turn, side, kind in react:
        Reaction.objects.create(message=answer[(battle.pk, turn, side)], participant=battle.participant, kind=kind)
    Battle.objects.filter(pk=two_turns.pk).update(hidden=True)  # hidden: its reactions go nowhere either
    files, export = run_export(format="ebaluatoia", file_type="jsonl.gz")
    assert list(files)[-1] == "manifest.json" and "reactions.jsonl" in files
    lines = jsonl_rows(files["reactions.jsonl"])
    zero = dict.fromkeys(Reaction.Kind.values, 0)
    assert lines == [{"id": str(single.pk), "reactions_a": {**zero, "useful": 1},
                      "reactions_b": {**zero, "wrong": 1, "bad_basque": 1}}]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["reactions"] == 3
    assert manifest["files"]["reactions.jsonl"]["bytes"] == len(files["reactions.jsonl"])
    Battle.objects.filter(pk=two_turns.pk).update(hidden=False)
    files, _ = run_export(format="lmsys", file_type="jsonl")
    lines = {line["id"]: line for line in jsonl_rows(files["reactions.jsonl"])}
    assert lines[str(two_turns.pk)]["reactions_a"]["mixed_languages"] == 2  # summed over the two turns


@pytest.mark.django_db
def test_no_reactions_no_file(arena_data):
    files, _ = run_export(format="ebaluatoia", file_type="jsonl.gz")
    assert "reactions.jsonl" not in files and json.loads(files["manifest.json"])["counts"]["reactions"] == 0


@pytest.mark.django_db
def test_a_long_withheld_list_is_left_to_the_database(withheld, monkeypatch):
    from arena.export import source

    monkeypatch.setattr(source, "WITHHELD_AS_LIST", 1)  # two withheld battles: more than the list takes
    files, _ = run_export(format="ebaluatoia", file_type="jsonl")
    battles = withheld["battles"]
    assert exported_ids(files) == {str(battles["two_turns"].pk), str(battles["both_bad"].pk)}


@pytest.mark.django_db
def test_hf_folder_carries_the_reactions_file(arena_data, tmp_path):
    from arena.export import Export

    single = arena_data["battles"]["single"]
    message = Message.objects.get(battle=single, side="B", role="assistant")
    Reaction.objects.create(message=message, participant=single.participant, kind="bad_basque")
    form = ExportForm(data={"format": "dpo", "file_type": "hf"})
    assert form.is_valid()
    manifest = Export(form.to_options()).build_hf_folder(tmp_path / "hf")
    lines = jsonl_rows((tmp_path / "hf" / "reactions.jsonl").read_bytes())
    assert [line["id"] for line in lines] == [str(single.pk)] and lines[0]["reactions_b"]["bad_basque"] == 1
    assert manifest["counts"]["reactions"] == 1 and "reactions.jsonl" in manifest["files"]
