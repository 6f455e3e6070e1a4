"""Research export (issue #5): formats, manifest, privacy, filters, the command and atomic output."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation

from arena import services
from arena.export import Export, ExportForm
from arena.export import ParticipantHasher
from arena.export import bundle as bundle_module
from arena.export import hashing as hashing_module
from arena.export import lines as lines_module
from arena.export import source as source_module
from arena.export.formats import ebaluatoia_line, ebaluatoia_rows
from arena.export.source import iter_vote_chunks
from arena.jsonio import dumps
from arena.models import Battle, Message, Participant, Vote, VoteTranscript
from arena.transcripts import transcripts
from models_serving.models import ServedModel

SALT = "test-export-salt"
ARENA = {**settings.ARENA, "EXPORT_SALT": SALT, "DATASET_LICENSE": "cc-by-sa-4.0"}
EBALUATOIA_COLUMNS = [
    "id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b", "conv_a", "conv_b",
    "winner", "winner_content", "winner_language",
]
LMSYS_COLUMNS = [
    "question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn", "anony",
    "language", "tstamp",
]
PEOPLE = [  # username, e-mail, first name, last name, level, education
    ("anetxu_77", "anetxu.posta@example.eus", "Anetxuka", "Etxeberriagoitia", "C1-C2", "university"),
    ("jonpatxi_88", "jp.agirre@example.eus", "Jonpatxi", "Agirrezabalaga", "native", "postgraduate"),
    ("mirentxu_99", "mirentxu.z@example.eus", "Mirentxuka", "Zubiriaurre", "B1-B2", "secondary"),
]


def utc(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


def participant_hash(public_id) -> str:
    return hmac.new(SALT.encode(), str(public_id).encode(), hashlib.sha256).hexdigest()[:16]


def make_person(username, email, first, last, level, education) -> Participant:
    user = get_user_model().objects.create_user(  # no password: hashing one costs ~1 s of CPU
        username=username, email=email, first_name=first, last_name=last
    )
    return Participant.objects.create(
        user=user, basque_level=level, education=education, dialect_area="zuberera", age_band="45-59",
        consent_version="v1", consented_at=utc(1),
    )


def make_vote(participant, model_a, model_b, turns, content, language, overall, *, at, reasons=(), status="voted"):
    battle = Battle.objects.create(
        participant=participant, model_a=model_a, model_b=model_b, status=status,
        snapshot_a=model_a.sampling_snapshot(), snapshot_b=model_b.sampling_snapshot(),
    )
    for turn, (prompt, answer_a, answer_b) in enumerate(turns):
        # Created answers first: the export must order by turn and side, not by insertion.
        Message.objects.create(battle=battle, turn=turn, role="assistant", side="B", content=answer_b)
        Message.objects.create(battle=battle, turn=turn, role="assistant", side="A", content=answer_a)
        Message.objects.create(battle=battle, turn=turn, role="user", side="", content=prompt)
    if status != "voted":
        return battle
    vote = Vote.objects.create(
        battle=battle, participant=participant, model_a=model_a, model_b=model_b,
        content=content, language=language, overall=overall,
        basque_level=participant.basque_level, education=participant.education,
        excluded=bool(reasons), exclusion_reasons=list(reasons),
    )
    Vote.objects.filter(pk=vote.pk).update(created_at=at)
    return battle


@pytest.fixture
def arena_data(db):
    """Three volunteers (one later deletes the account), three models, five votes (one flagged)."""
    latxa = ServedModel.objects.create(public_name="Latxa-8B", system_prompt="Erantzun beti euskaraz.")
    gemma = ServedModel.objects.create(public_name="Gemma-Eus", system_prompt="")
    llama = ServedModel.objects.create(public_name="Llama-Eus", system_prompt="Zu laguntzaile atsegina zara.")
    ane, jon, miren = (make_person(*person) for person in PEOPLE)
    battles = {
        "single": make_vote(ane, latxa, gemma, [("Zein da Euskal Herriko mendirik altuena?", "Hiru Errege Mahaia.", "Aneto.")],
                            "A", "A", "A", at=utc(1)),
        "two_turns": make_vote(jon, gemma, llama, [
            ("Idatzi olerki labur bat itsasoari buruz.", "Itsasoa urdin, zerua zabal.", "Olatuak datoz, olatuak doaz."),
            ("Orain luzeagoa, mesedez.", "Itsaso handi, ur gazi, bihotz zabal.", "Olatuen kantua, haizearen dantza."),
        ], "B", "tie", "B", at=utc(2)),
        "both_bad": make_vote(miren, latxa, llama, [("Zenbat da bi gehi bi?", "Bost.", "Hiru.")],
                              "tie", "tie", "both_bad", at=utc(3)),
        "flagged": make_vote(ane, llama, latxa, [("Kaixo!", "Kaixo, zer moduz?", "Kaixo! Zertan lagun dezaket?")],
                             "B", "A", "A", at=utc(4), reasons=["too_fast", "identity_leak"]),
        "mixed": make_vote(jon, latxa, gemma, [("Nola esaten da 'cat' euskaraz?", "Katua.", "Katu.")],
                           "A", "B", "tie", at=utc(5)),
    }
    make_vote(ane, latxa, llama, [("Ez da bozkatu.", "Bai.", "Ez.")], "", "", "", at=utc(6), status="ready")
    raw = [{"username": u, "email": e, "first": f, "last": lname} for u, e, f, lname, *_ in PEOPLE]
    for person, participant in zip(raw, (ane, jon, miren)):
        person["public_id"] = str(participant.public_id)
        person["hash"] = participant_hash(participant.public_id)
    services.delete_participant(miren)  # the account goes; the vote stays under the anonymous hash only
    with override_settings(ARENA=ARENA):
        yield {"battles": battles, "people": raw, "models": (latxa, gemma, llama)}


def run_export(**fields) -> tuple[dict[str, bytes], Export]:
    form = ExportForm(data=fields)
    assert form.is_valid(), form.errors
    export = Export(form.to_options())
    blob = b"".join(export.iter_zip())
    with zipfile.ZipFile(io.BytesIO(blob)) as bundle:
        assert bundle.testzip() is None
        return {name: bundle.read(name) for name in bundle.namelist()}, export


def jsonl_rows(data: bytes) -> list[dict]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def data_entry(files: dict[str, bytes]) -> bytes:
    (name,) = [n for n in files if n.startswith("basque-arena-")]
    return files[name]


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
    assert rows[str(battles["both_bad"].pk)]["username"] == people[2]["hash"]  # deleted: same anonymous hash
    assert export.stats.votes == 4


def test_manifest_filters_counts_exclusions_version_and_checksum(arena_data):
    files, _ = run_export(format="ebaluatoia", file_type="jsonl.gz", date_from="2026-03-01", date_to="2026-03-31")
    manifest = json.loads(files["manifest.json"])
    data = files["basque-arena-ebaluatoia.jsonl.gz"]
    assert manifest["files"] == {
        "basque-arena-ebaluatoia.jsonl.gz": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    }
    assert manifest["filters"]["date_from"] == "2026-03-01" and manifest["filters"]["include_flagged"] is False
    assert manifest["counts"]["votes"] == manifest["counts"]["rows"] == 4
    assert manifest["counts"]["participants"] == 3
    assert manifest["counts"]["models"] == ["Gemma-Eus", "Latxa-8B", "Llama-Eus"]
    assert manifest["counts"]["first_vote_at"].startswith("2026-03-01")
    assert manifest["exclusions"] == {
        "flagged_votes_matching_filters": 1, "flagged_votes_included": False,
        "by_reason": {"identity_leak": 1, "too_fast": 1},
    }
    assert manifest["code_version"] and manifest["license"] == "cc-by-sa-4.0"
    assert len(manifest["participant_hash"]["salt_id"]) == 8


def test_include_flagged_exports_them_and_lists_their_reasons(arena_data):
    files, _ = run_export(format="lmsys", file_type="jsonl", include_flagged="on")
    flagged_id = str(arena_data["battles"]["flagged"].pk)
    assert flagged_id in {row["question_id"] for row in jsonl_rows(data_entry(files))}
    assert jsonl_rows(files["flags.jsonl"]) == [{"id": flagged_id, "exclusion_reasons": ["too_fast", "identity_leak"]}]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["flagged_votes_exported"] == 1 and "flags.jsonl" in manifest["files"]


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


def freeze_all_transcripts(every: int = 1) -> None:
    for vote in Vote.objects.select_related("battle").filter(transcript__isnull=True).order_by("id")[::every]:
        side_a, side_b = transcripts(vote.battle)
        VoteTranscript.objects.create(vote=vote, side_a=side_a, side_b=side_b)


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


def test_filters_by_date_model_level_and_education(arena_data):
    battles = arena_data["battles"]

    def ids(**filters) -> set[str]:
        return {row["id"] for row in jsonl_rows(data_entry(run_export(format="ebaluatoia", **filters)[0]))}

    assert ids(date_from="2026-03-02", date_to="2026-03-03") == {str(battles["two_turns"].pk), str(battles["both_bad"].pk)}
    assert ids(models=["Gemma-Eus"]) == {str(battles[k].pk) for k in ("single", "two_turns", "mixed")}
    assert ids(models=["Latxa-8B", "Llama-Eus"], models_match="both") == {str(battles["both_bad"].pk)}
    assert ids(basque_levels=["native"]) == {str(battles["two_turns"].pk), str(battles["mixed"].pk)}
    assert ids(educations=["secondary", "university"]) == {str(battles["single"].pk), str(battles["both_bad"].pk)}
    assert ids(date_from="2027-01-01") == set()


@pytest.mark.parametrize("file_type", ["jsonl", "jsonl.gz", "parquet"])
def test_an_empty_selection_is_a_valid_export(arena_data, file_type):
    files, export = run_export(format="dpo", file_type=file_type, date_from="2030-01-01")
    assert json.loads(files["manifest.json"])["counts"]["rows"] == 0
    if file_type == "parquet":
        assert pq.read_table(io.BytesIO(data_entry(files))).num_rows == 0
    else:
        assert jsonl_rows(data_entry(files)) == []


def test_same_salt_same_hash_and_another_salt_another(arena_data):
    def usernames() -> set[str]:
        return {row["username"] for row in jsonl_rows(data_entry(run_export(format="ebaluatoia")[0]))}

    first = usernames()
    assert first == usernames() == {person["hash"] for person in arena_data["people"]}
    with override_settings(ARENA={**ARENA, "EXPORT_SALT": "another-secret"}):
        assert usernames().isdisjoint(first)


@pytest.mark.parametrize("missing", ["", None])
def test_no_salt_no_export(arena_data, missing):
    from arena.export import ExportConfigurationError

    form = ExportForm(data={"format": "ebaluatoia"})
    assert form.is_valid()
    with override_settings(ARENA={**ARENA, "EXPORT_SALT": missing}), pytest.raises(ExportConfigurationError):
        Export(form.to_options())


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


# -- the command --------------------------------------------------------------------------------

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


@pytest.mark.parametrize("fmt", ["ebaluatoia", "lmsys"])
def test_a_corrupted_choice_stops_the_export_clearly(arena_data, tmp_path, fmt):
    Vote.objects.filter(battle=arena_data["battles"]["mixed"]).update(language="AB")
    with pytest.raises(CommandError, match="choice .*not one of.*nothing was written"):
        call_command("export_votes", format=fmt, dimension="language", output=str(tmp_path / "out.zip"))
    assert list(tmp_path.iterdir()) == []


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
