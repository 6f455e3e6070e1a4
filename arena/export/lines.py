"""ebaluatoia JSONL lines in batches, with what the manifest counts.

On PostgreSQL (the hot path of a 1M-vote export) the database process writes each line but the
participant hash, which needs the secret salt and so never leaves Python: Python only splices the
hash in, so its work per vote drops from ~25 µs to a few, and the JSON is built on the other core.
Elsewhere (SQLite) lines come from ``formats.ebaluatoia_line``, the reference: tests check that
both give the same bytes for any text, for frozen and unfrozen transcripts.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, TextField, When
from django.db.models.functions import Cast

from arena.jsonio import loads
from arena.models import Battle, Message, Participant

from .formats import OVERALL_WINNER, WINNER, ebaluatoia_line
from .hashing import MAX_CACHED, ParticipantHasher
from .manifest import ChunkCounts
from .options import ExportOptions
from .source import chunk_query, iter_vote_chunks, matching_votes, prefetched_pg_chunks, snapshot_upper_id


def _label(column: str, labels: dict[str, str]) -> str:
    cases = " ".join(f"WHEN '{stored}' THEN '{label}'" for stored, label in labels.items())
    return f"(CASE q.{column} {cases} END)"


def _timestamp(column: str) -> str:
    """datetime.isoformat() of the UTC time: microseconds only when there are some."""
    utc = f"(q.{column} AT TIME ZONE 'UTC')"
    return (f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN date_trunc('second', {utc}) = {utc}"""
            f" THEN '' ELSE to_char({utc}, '.US') END || '+00:00'")


def _transcript(side: str) -> str:
    """The frozen transcript, or for a vote stored without one the same JSON built from its messages
    (COALESCE evaluates the subquery only then) by arena/transcripts.py's rule: the system prompt when
    there is one, then the prompts (side '') and this side's answers, empty ones included, by (turn, side)."""
    message = "'{\"role\":' || to_json(m.role)::text || ',\"content\":' || to_json(m.content)::text || '}'"
    system = f"b.snapshot_{side.lower()}->>'system_prompt'"
    return (
        f"COALESCE(q.frozen__side_{side.lower()}, (SELECT '[' || concat_ws(',',"
        f" CASE WHEN {system} <> '' THEN '{{\"role\":\"system\",\"content\":' || to_json({system})::text || '}}' END,"
        f" (SELECT string_agg({message}, ',' ORDER BY m.turn, m.side) FROM {Message._meta.db_table} m"
        f"  WHERE m.battle_id = b.id AND m.side IN ('', '{side}'))) || ']'"
        f" FROM {Battle._meta.db_table} b WHERE b.id = q.battle_id))"
    )


# Everything after the username (from its closing quote), as formats.ebaluatoia_line writes it.
# to_json() escapes strings like the Python encoder (", \\, control characters; UTF-8 kept as is).
_TAIL = " || ".join([
    "'\",\"user_language\":'", "to_json(q.basque_level)::text",
    "',\"user_education\":'", "to_json(q.education)::text",
    "',\"timestamp\":\"'", _timestamp("created_at"),
    "'\",\"model_a\":'", "to_json(q.model_a__public_name)::text",
    "',\"model_b\":'", "to_json(q.model_b__public_name)::text",
    "',\"conv_a\":'", _transcript("A"), "',\"conv_b\":'", _transcript("B"),
    "',\"winner\":\"'", _label("overall", OVERALL_WINNER),
    "'\",\"winner_content\":\"'", _label("content", WINNER),
    "'\",\"winner_language\":\"'", _label("language", WINNER), "'\"}'",
])
_COLUMNS = ("id", "battle_id", "participant_id", "created_at", "model_a__public_name",
            "model_b__public_name", "reasons", "basque_level", "education", "frozen__side_a",
            "frozen__side_b", "overall", "content", "language")


_HEAD = "'{\"id\":\"' || q.battle_id::text || '\",\"username\":\"'"
_VALID = " AND ".join(
    f"q.{column} IN ({', '.join(repr(stored) for stored in labels)})"
    for column, labels in (("overall", OVERALL_WINNER), ("content", WINNER), ("language", WINNER))
)


def _outer_sql(chunk_sql: str) -> str:
    """Per vote: what the manifest counts, and the line before and after the username as UTF-8 bytes
    (bytea, fetched in binary: Python never decodes or re-encodes them)."""
    return (
        "SELECT q.id, q.participant_id, q.created_at, q.model_a__public_name, q.model_b__public_name, q.reasons,"
        f" CASE WHEN q.reasons IS NOT NULL THEN q.battle_id::text END, {_VALID},"
        f" convert_to({_HEAD}, 'UTF8'), convert_to({_TAIL}, 'UTF8') FROM ({chunk_sql}) q ORDER BY q.id"
    )


class _PublicIds:
    """Runs in the reader thread after each chunk: the public ids of participants not sent before, in
    one query. A volunteer votes many times, so this replaces a join probing the participant table
    for every vote (a fifth of PostgreSQL's time). Bounded: past MAX_CACHED it starts over (reset)."""

    def __init__(self):
        self.sent: set[int] = set()

    def __call__(self, cursor, rows) -> tuple[bool, list]:
        reset = len(self.sent) >= MAX_CACHED
        if reset:
            self.sent.clear()
        new = list({row[1] for row in rows} - self.sent)
        if not new:
            return reset, []
        cursor.execute(f"SELECT id, public_id::text FROM {Participant._meta.db_table} WHERE id = ANY(%s)", [new])
        self.sent.update(new)
        return reset, cursor.fetchall()


@dataclass
class LineBatch:
    """A chunk of encoded lines (each ending in a newline) with what the manifest counts of it."""

    lines: bytes
    counts: ChunkCounts


def iter_ebaluatoia_batches(options: ExportOptions, hasher: ParticipantHasher, *, chunk_size: int
                            ) -> Iterator[LineBatch]:
    if connection.vendor == "postgresql":
        return _postgres_batches(options, hasher, chunk_size)
    return _reference_batches(options, hasher, chunk_size)


def _reference_batches(options: ExportOptions, hasher: ParticipantHasher, chunk_size: int) -> Iterator[LineBatch]:
    for records in iter_vote_chunks(options, hasher, chunk_size=chunk_size):
        lines = "".join(ebaluatoia_line(record) + "\n" for record in records).encode("utf-8")
        yield LineBatch(lines, ChunkCounts.of(records))


def _postgres_batches(options: ExportOptions, hasher: ParticipantHasher, chunk_size: int) -> Iterator[LineBatch]:
    upper_id = snapshot_upper_id()
    if upper_id is None:
        return
    votes = matching_votes(options).filter(id__lte=upper_id).annotate(
        # Reasons only for flagged votes: the rest need no column at all.
        reasons=Case(When(excluded=True, then=Cast("exclusion_reasons", TextField())), default=None),
    )
    chunk = chunk_query(votes, _COLUMNS, chunk_size)
    hashes: dict[int, bytes] = {}  # participant id -> hash, from the public ids the reader sends
    chunks = prefetched_pg_chunks(chunk, chunk_size, wrap=_outer_sql, binary=True, after_fetch=_PublicIds())
    for rows, (reset, public_ids) in chunks:
        if reset:
            hashes.clear()
        for participant_id, public_id in public_ids:
            hashes[participant_id] = hasher(public_id).encode("ascii")
        lines, flagged, models = [], [], set()
        for vote_id, participant_id, _voted_at, model_a, model_b, reasons, flagged_id, valid, head, tail in rows:
            if not valid:  # a corrupted row: the reference path stops on it too
                raise ValueError(f"vote {vote_id} has a choice that is not one of {sorted(OVERALL_WINNER)}")
            lines.append(b"".join((head, hashes[participant_id], tail)))
            models.add(model_a)
            models.add(model_b)
            if reasons is not None:
                flagged.append((flagged_id, loads(reasons) or []))
        times = [row[2] for row in rows]
        yield LineBatch(b"\n".join(lines) + b"\n", ChunkCounts(
            votes=len(lines), flagged=flagged, first_vote_at=min(times), last_vote_at=max(times), models=models,
        ))
