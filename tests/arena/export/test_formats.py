"""The three row formats (arena/export/formats.py): columns, values, winner labels, Parquet = JSONL."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from arena.models import Vote
from tests.arena.factories import data_entry, jsonl_rows, run_export, utc


EBALUATOIA_COLUMNS = [
    "id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b", "conv_a", "conv_b",
    "winner", "winner_content", "winner_language",
]


LMSYS_COLUMNS = [
    "question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn", "anony",
    "language", "tstamp",
]


def test_ebaluatoia_has_exactly_the_public_columns_and_values(arena_data):
    files, export = run_export(format="ebaluatoia", file_type="jsonl.gz")
    assert list(files) == ["basque-arena-ebaluatoia.jsonl.gz", "manifest.json"]  # manifest last
    rows = {row["id"]: row for row in jsonl_rows(files["basque-arena-ebaluatoia.jsonl.gz"])}
    battles, people = arena_data["battles"], arena_data["people"]
    assert set(rows) == {str(battles[k].pk) for k in ("single", "two_turns", "both_bad", "mixed")}  # flagged left out
    for row in rows.values():
        assert list(row) == EBALUATOIA_COLUMNS
    single = rows[str(battles["single"].pk)]
    assert single["username"] == people[0]["hash"]
    assert (single["user_language"], single["user_education"]) == ("C1-C2", "university")
    assert (single["model_a"], single["model_b"]) == ("Latxa-8B", "Gemma-Eus")
    assert single["timestamp"] == "2026-03-01T10:00:00+00:00"
    assert single["conv_a"] == [
        {"role": "system", "content": "Erantzun beti euskaraz."},
        {"role": "user", "content": "Zein da Euskal Herriko mendirik altuena?"},
        {"role": "assistant", "content": "Hiru Errege Mahaia."},
    ]
    assert single["conv_b"] == [  # Gemma has no system prompt: no empty system message
        {"role": "user", "content": "Zein da Euskal Herriko mendirik altuena?"},
        {"role": "assistant", "content": "Aneto."},
    ]
    assert (single["winner"], single["winner_content"], single["winner_language"]) == ("model_a", "model_a", "model_a")
    two = rows[str(battles["two_turns"].pk)]
    assert [m["role"] for m in two["conv_b"]] == ["system", "user", "assistant", "user", "assistant"]
    assert two["conv_b"][4]["content"] == "Olatuen kantua, haizearen dantza."
    assert (two["winner"], two["winner_content"], two["winner_language"]) == ("model_b", "model_b", "tie")
    assert rows[str(battles["both_bad"].pk)]["winner"] == "both_bad"
    assert rows[str(battles["both_bad"].pk)]["username"] == people[2]["hash"]  # deleted: the hash of its new, random public id
    assert export.stats.votes == 4


def test_lmsys_follows_the_chatbot_arena_schema(arena_data):
    files, _ = run_export(format="lmsys", file_type="jsonl.gz", dimension="overall")
    rows = {row["question_id"]: row for row in jsonl_rows(data_entry(files))}
    battles, people = arena_data["battles"], arena_data["people"]
    for row in rows.values():
        assert list(row) == LMSYS_COLUMNS
        assert row["anony"] is True and row["language"] == "Basque"
        assert all(m["role"] in ("user", "assistant") for m in row["conversation_a"] + row["conversation_b"])
    assert rows[str(battles["both_bad"].pk)]["winner"] == "tie (bothbad)"
    assert rows[str(battles["mixed"].pk)]["winner"] == "tie"
    two = rows[str(battles["two_turns"].pk)]
    assert two["turn"] == 2 and two["winner"] == "model_b" and two["judge"] == people[1]["hash"]
    assert two["tstamp"] == utc(2).timestamp()
    content = {row["question_id"]: row["winner"] for row in jsonl_rows(data_entry(
        run_export(format="lmsys", file_type="jsonl", dimension="content")[0]))}
    assert content[str(battles["mixed"].pk)] == "model_a"


def test_dpo_rows_one_per_decided_dimension(arena_data):
    files, _ = run_export(format="dpo", file_type="jsonl", dimension="all")
    rows = jsonl_rows(data_entry(files))
    battles = arena_data["battles"]
    by_key = {(row["id"], row["dimension"]): row for row in rows}
    # single: 3 decided; two_turns: content+overall; both_bad: none; mixed: content+language.
    assert len(rows) == 7
    assert (str(battles["both_bad"].pk), "overall") not in by_key
    single = by_key[(str(battles["single"].pk), "overall")]
    assert single["prompt"] == [{"role": "user", "content": "Zein da Euskal Herriko mendirik altuena?"}]  # system differs
    assert single["chosen"] == [{"role": "assistant", "content": "Hiru Errege Mahaia."}]
    assert single["rejected"] == [{"role": "assistant", "content": "Aneto."}]
    assert single["margin"] == 1.0
    mixed = by_key[(str(battles["mixed"].pk), "language")]
    assert mixed["chosen"][0]["content"] == "Katu." and mixed["margin"] == 0.0  # content says A, language B
    two = by_key[(str(battles["two_turns"].pk), "overall")]
    assert [m["role"] for m in two["chosen"]] == ["assistant", "user", "assistant"]
    assert two["chosen"][-1]["content"] == "Olatuen kantua, haizearen dantza."
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["rows_by_dimension"] == {"content": 3, "language": 2, "overall": 2}


def test_parquet_holds_the_same_rows_as_jsonl(arena_data):
    for fmt in ("ebaluatoia", "lmsys", "dpo"):
        jsonl = jsonl_rows(data_entry(run_export(format=fmt, file_type="jsonl")[0]))
        files, _ = run_export(format=fmt, file_type="parquet")
        table = pq.read_table(io.BytesIO(data_entry(files)))
        assert table.to_pylist() == jsonl


@pytest.mark.parametrize("fmt", ["ebaluatoia", "lmsys"])
def test_a_corrupted_choice_stops_the_export_clearly(arena_data, tmp_path, fmt):
    Vote.objects.filter(battle=arena_data["battles"]["mixed"]).update(language="AB")
    with pytest.raises(CommandError, match="choice .*not one of.*nothing was written"):
        call_command("export_votes", format=fmt, dimension="language", output=str(tmp_path / "out.zip"))
    assert list(tmp_path.iterdir()) == []
