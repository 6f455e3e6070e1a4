"""Read votes with their conversations in chunks, with flat memory.

Keyset pagination on the vote id (``id > last ORDER BY id LIMIT n``) instead of one long cursor:
it streams the same way on SQLite and PostgreSQL, holds no transaction or server-side cursor open
while a slow client downloads, and the first rows arrive at once. Each chunk is one query: votes
joined to battle, participant and models, with each side's messages aggregated to JSON in SQL.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from django.db import connection
from django.db.models import Max, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from psycopg import pq
from psycopg.postgres import types as pg_types

from arena.models import Battle, Vote

from .hashing import ParticipantHasher
from .jsonio import loads
from .options import ExportOptions

DEFAULT_CHUNK_SIZE = 2000


@dataclass(slots=True)
class VoteRecord:
    """One vote with everything any format needs, and nothing that identifies the volunteer.

    ``conv_a``/``conv_b``: that side's system prompt (when set) as the first message, then the
    messages with side "" (the shared user prompts) or that side, ordered by (turn, side).
    """

    battle_id: str
    participant_hash: str
    basque_level: str
    education: str
    voted_at: dt.datetime
    model_a: str
    model_b: str
    system_a: str
    system_b: str
    conv_a: list[dict]
    conv_b: list[dict]
    content: str
    language: str
    overall: str
    excluded: bool
    exclusion_reasons: list[str]


def matching_votes(options: ExportOptions, *, apply_flag_filter: bool = True) -> QuerySet:
    """Votes selected by the options (every filter but the chunking)."""
    votes = Vote.objects.filter(battle__status=Battle.Status.VOTED)
    if apply_flag_filter and not options.include_flagged:
        votes = votes.filter(excluded=False)
    # Dates are UTC days, like the exported timestamps.
    if options.date_from:
        votes = votes.filter(created_at__gte=dt.datetime.combine(options.date_from, dt.time.min, dt.UTC))
    if options.date_to:
        end = dt.datetime.combine(options.date_to + dt.timedelta(days=1), dt.time.min, dt.UTC)
        votes = votes.filter(created_at__lt=end)
    if options.models:
        in_a = Q(battle__model_a__public_name__in=options.models)
        in_b = Q(battle__model_b__public_name__in=options.models)
        votes = votes.filter((in_a & in_b) if options.models_match == "both" else (in_a | in_b))
    if options.basque_levels:  # the level snapshotted with the vote, not today's profile
        votes = votes.filter(basque_level__in=options.basque_levels)
    if options.educations:
        votes = votes.filter(education__in=options.educations)
    return votes


VOTE_COLUMNS = (
    "id", "battle_id", "participant__public_id", "basque_level", "education", "created_at",
    "battle__model_a__public_name", "battle__model_b__public_name", "system_a", "system_b", "conversations",
    "content", "language", "overall", "excluded", "reasons",
)

# Both sides' messages as one JSON text, [[side A...], [side B...]], aggregated by the database in
# one index scan per vote: one row per vote instead of ~4 message rows through the ORM is what
# makes 50k votes/s possible. Each side: side "" (shared prompts) and its own, by (turn, side).
_CONVERSATIONS_SQL = {
    "postgresql": (
        # One ordered scan feeding both aggregates (cheaper than an ORDER BY inside each aggregate).
        "(SELECT json_build_array("
        " json_agg(m.message) FILTER (WHERE m.side IN ('', 'A')),"
        " json_agg(m.message) FILTER (WHERE m.side IN ('', 'B')))::text"
        " FROM (SELECT json_build_object('role', role, 'content', content) AS message, side FROM arena_message"
        "  WHERE battle_id = arena_vote.battle_id ORDER BY turn, side) m)"
    ),
    # SQLite keeps the order of an ordered subquery in json_group_array; json() keeps it JSON, not a string.
    "sqlite": "json_array(" + ", ".join(
        "json((SELECT json_group_array(json_object('role', m.role, 'content', m.content)) FROM"
        f" (SELECT role, content FROM arena_message WHERE battle_id = arena_vote.battle_id AND side IN ('', '{side}')"
        "  ORDER BY turn, side) m))" for side in "AB"
    ) + ")",
}


def _conversations() -> RawSQL:
    sql = _CONVERSATIONS_SQL.get(connection.vendor)
    if sql is None:
        raise NotImplementedError(f"exports support PostgreSQL and SQLite, not {connection.vendor}")
    return RawSQL(sql, [], output_field=TextField())


def iter_vote_chunks(
    options: ExportOptions, hasher: ParticipantHasher, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[list[VoteRecord]]:
    """Yield lists of up to ``chunk_size`` records, oldest vote first."""
    # Votes cast while the export runs are left out, so a slow download is a consistent snapshot.
    upper_id = Vote.objects.aggregate(top=Max("id"))["top"]
    if upper_id is None:
        return
    rows_query = (
        matching_votes(options)
        .filter(id__lte=upper_id)
        .annotate(
            system_a=KeyTextTransform("system_prompt", "battle__snapshot_a"),
            system_b=KeyTextTransform("system_prompt", "battle__snapshot_b"),
            conversations=_conversations(),
            # As text: parsed only for the few flagged votes instead of for every row.
            reasons=Cast("exclusion_reasons", TextField()),
        )
        .order_by("id")
        .values_list(*VOTE_COLUMNS)
    )
    if connection.vendor == "postgresql":
        chunks = _prefetched_pg_chunks(rows_query, chunk_size)
    else:
        chunks = _orm_chunks(rows_query, chunk_size)
    for rows in chunks:
        yield [_record(row, hasher) for row in rows]


def _orm_chunks(rows_query: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    last_id = -1
    while True:
        rows = list(rows_query.filter(id__gt=last_id)[:chunk_size])
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        last_id = rows[-1][0]


_LAST_ID = -7_345_111_982  # a marker to find the keyset parameter in the compiled SQL's params


def _prefetched_pg_chunks(rows_query: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    """The same keyset chunks, fetched one ahead by a thread: PostgreSQL builds the next chunk while
    Python writes this one, so the export takes about max(database, Python) instead of their sum.

    The thread runs the compiled SQL on this thread's own psycopg connection (so it sees the same
    data, in the same transaction if one is open) while this thread stays off the database; it uses
    psycopg's C loaders (Django's timestamptz loader is pure Python, ~20% of the export's time) and
    no JIT (the LIMIT makes the planner expect a huge query; compiling it cost ~100 ms per chunk).
    """
    sql, params = rows_query.filter(id__gt=_LAST_ID)[:chunk_size].query.sql_with_params()
    params = list(params)
    slot = params.index(_LAST_ID)
    connection.ensure_connection()
    raw = connection.connection
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch_all() -> None:
        try:
            with raw.cursor() as cursor:
                # uuid as text: the ids are written out as strings anyway (same lowercase hyphenated form).
                for name, as_type in (("timestamptz", "timestamptz"), ("uuid", "text")):
                    loader = psycopg.adapters.get_loader(pg_types[as_type].oid, pq.Format.TEXT)
                    cursor.adapters.register_loader(name, loader)
                last_id = -1
                while not stop.is_set():
                    params[slot] = last_id
                    with raw.transaction():
                        cursor.execute("SET LOCAL jit = off")
                        cursor.execute(sql, params)
                        rows = cursor.fetchall()
                    ready.put(rows)
                    if len(rows) < chunk_size:
                        return
                    last_id = rows[-1][0]
        except BaseException as exc:  # handed to the reader, which re-raises it
            ready.put(exc)

    worker = threading.Thread(target=fetch_all, name="export-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            rows = ready.get()
            if isinstance(rows, BaseException):
                raise rows
            if rows:
                yield rows
            if len(rows) < chunk_size:
                return
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            ready.get_nowait()  # unblock a worker waiting to hand over a chunk nobody will read
        worker.join()


def _record(row: tuple, hasher: ParticipantHasher) -> VoteRecord:
    (_id, battle_id, public_id, level, education, voted_at, model_a, model_b, system_a, system_b,
     conversations, content, language, overall, excluded, reasons) = row
    system_a, system_b = system_a or "", system_b or ""
    conv_a, conv_b = loads(conversations) if conversations else (None, None)
    return VoteRecord(
        battle_id=str(battle_id),
        participant_hash=hasher(public_id),
        basque_level=level,
        education=education,
        voted_at=voted_at,
        model_a=model_a,
        model_b=model_b,
        system_a=system_a,
        system_b=system_b,
        conv_a=_with_system(system_a, conv_a),
        conv_b=_with_system(system_b, conv_b),
        content=content,
        language=language,
        overall=overall,
        excluded=excluded,
        exclusion_reasons=(loads(reasons) or []) if excluded and reasons else [],
    )


def _with_system(system: str, messages: list[dict] | None) -> list[dict]:
    messages = messages or []
    return [{"role": "system", "content": system}, *messages] if system else messages


def exclusion_counts(options: ExportOptions) -> dict:
    """Flagged votes among those the filters match (whether or not they were exported), by reason."""
    by_reason: Counter = Counter()
    flagged = 0
    query = matching_votes(options, apply_flag_filter=False).filter(excluded=True).order_by()
    for reasons in query.values_list("exclusion_reasons", flat=True).iterator(chunk_size=10_000):
        flagged += 1
        by_reason.update(reasons or ["(no reason recorded)"])
    return {
        "flagged_votes_matching_filters": flagged,
        "flagged_votes_included": options.include_flagged,
        "by_reason": dict(sorted(by_reason.items())),
    }


def participant_count(options: ExportOptions) -> int:
    return matching_votes(options).order_by().values("participant_id").distinct().count()
