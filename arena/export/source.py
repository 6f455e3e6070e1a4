"""Read votes with their conversations in chunks, with flat memory.

Keyset pagination on the vote id (``id > last ORDER BY id LIMIT n``) instead of one long cursor:
it streams the same way on SQLite and PostgreSQL, holds no transaction or server-side cursor open
while a slow client downloads, and the first rows arrive at once. Each chunk is one query: votes
joined to participant, models and each side's conversation as the JSON text frozen when the vote
was cast (no per-message rows, no JSON built per export).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
from django.db import connection
from django.db.models import FilteredRelation, Max, Q, QuerySet, TextField
from django.db.models.functions import Cast
from psycopg import pq
from psycopg.postgres import types as pg_types

from arena.jsonio import loads
from arena.models import Battle, Vote
from arena.selectors import transcripts_of

from .hashing import ParticipantHasher
from .options import ExportOptions

DEFAULT_CHUNK_SIZE = 2000


@dataclass
class VoteRecord:
    """One vote with everything any format needs, and nothing that identifies the volunteer.

    ``transcript_a``/``transcript_b``: each side's conversation as compact JSON text (see
    ``VoteTranscript``); ``conv_a``/``conv_b`` parse it only for the formats that reshape it.
    """

    battle_id: str
    participant_hash: str
    basque_level: str
    education: str
    voted_at: dt.datetime
    model_a: str
    model_b: str
    transcript_a: str
    transcript_b: str
    content: str
    language: str
    overall: str
    excluded: bool
    exclusion_reasons: list[str]

    @functools.cached_property
    def conv_a(self) -> list[dict]:
        return loads(self.transcript_a)

    @functools.cached_property
    def conv_b(self) -> list[dict]:
        return loads(self.transcript_b)

    @property
    def system_a(self) -> str:
        return _system_prompt(self.conv_a)

    @property
    def system_b(self) -> str:
        return _system_prompt(self.conv_b)


def _system_prompt(conversation: list[dict]) -> str:
    return conversation[0]["content"] if conversation and conversation[0]["role"] == "system" else ""


def matching_votes(options: ExportOptions, *, apply_flag_filter: bool = True,
                   apply_privacy_filter: bool = True) -> QuerySet:
    """Votes selected by the options (every filter but the chunking), without the withheld conversations
    (``withheld_battles``) unless ``apply_privacy_filter`` is False (to count them).

    No join to the battle for its status: a vote exists only for a voted battle (cast_vote stores
    both in one transaction, and nothing moves a battle out of "voted"), and probing the battle of
    every vote was half of PostgreSQL's time in a 1M-vote export.
    """
    votes = Vote.objects.all()
    if apply_flag_filter and not options.include_flagged:
        votes = votes.filter(excluded=False)
    if apply_privacy_filter:
        votes = _without_withheld(votes, options)
    # Dates are UTC days, like the exported timestamps.
    if options.date_from:
        votes = votes.filter(created_at__gte=dt.datetime.combine(options.date_from, dt.time.min, dt.UTC))
    if options.date_to:
        end = dt.datetime.combine(options.date_to + dt.timedelta(days=1), dt.time.min, dt.UTC)
        votes = votes.filter(created_at__lt=end)
    if options.models:
        in_a = Q(model_a__public_name__in=options.models)
        in_b = Q(model_b__public_name__in=options.models)
        votes = votes.filter((in_a & in_b) if options.models_match == "both" else (in_a | in_b))
    if options.basque_levels:  # the level snapshotted with the vote, not today's profile
        votes = votes.filter(basque_level__in=options.basque_levels)
    if options.educations:
        votes = votes.filter(education__in=options.educations)
    if options.campaign:  # the copy on the vote (no join to the battle)
        votes = votes.filter(campaign__slug=options.campaign)
    return votes


def withheld_battles(options: ExportOptions) -> QuerySet:
    """Battles no export of these options carries: hidden by a moderator (always), and those whose
    prompts seemed to contain personal data (``Battle.privacy_flags``) unless the options include them."""
    withheld = Q(hidden=True) if options.include_personal_data else Q(hidden=True) | ~Q(privacy_flags=[])
    return Battle.objects.filter(withheld)


WITHHELD_AS_LIST = 10_000  # up to this many withheld battles, their ids go into the chunk query as a list


def _without_withheld(votes: QuerySet, options: ExportOptions) -> QuerySet:
    """Leave the withheld battles' votes out without joining every vote to its battle (that join was
    half of PostgreSQL's time in a 1M-vote export): their ids are read once, normally none or a few,
    and excluded as a list; only an unusually long list stays a subquery for the database."""
    withheld = withheld_battles(options).values_list("pk", flat=True)
    ids = list(withheld[:WITHHELD_AS_LIST + 1])
    if not ids:
        return votes
    return votes.exclude(battle_id__in=withheld if len(ids) > WITHHELD_AS_LIST else ids)


def withheld_counts(options: ExportOptions) -> dict:
    """Votes matching the other filters that were left out, by reason (a hidden battle counts as hidden
    even when it also had personal data), for the manifest."""
    votes = matching_votes(options, apply_privacy_filter=False).order_by()
    hidden = votes.filter(battle__hidden=True).count()
    personal = votes.filter(battle__hidden=False).exclude(battle__privacy_flags=[]).count()
    return {
        "hidden_by_moderators": hidden,
        "personal_data": 0 if options.include_personal_data else personal,
        "personal_data_included": personal if options.include_personal_data else 0,
    }


VOTE_COLUMNS = (
    "id", "battle_id", "participant__public_id", "basque_level", "education", "created_at",
    "model_a__public_name", "model_b__public_name", "frozen__side_a", "frozen__side_b",
    "content", "language", "overall", "excluded", "reasons",
)


def snapshot_upper_id() -> int | None:
    """The newest vote id now: votes cast while an export runs are left out of it, so a slow
    download is a consistent snapshot."""
    return Vote.objects.aggregate(top=Max("id"))["top"]


def iter_vote_chunks(
    options: ExportOptions, hasher: ParticipantHasher, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[list[VoteRecord]]:
    """Yield lists of up to ``chunk_size`` records, oldest vote first."""
    upper_id = snapshot_upper_id()
    if upper_id is None:
        return
    # As text: parsed only for the few flagged votes instead of for every row.
    votes = matching_votes(options).filter(id__lte=upper_id).annotate(reasons=Cast("exclusion_reasons", TextField()))
    chunk = chunk_query(votes, VOTE_COLUMNS, chunk_size)
    if connection.vendor == "postgresql":
        chunks = prefetched_pg_chunks(chunk, chunk_size)
    else:
        chunks = _orm_chunks(chunk, chunk_size)
    for rows in chunks:
        yield _records(rows, hasher)


def chunk_query(votes: QuerySet, columns: tuple[str, ...], chunk_size: int) -> Callable[[int], QuerySet]:
    """``last_id -> the next chunk's rows``: ``columns`` of ``votes`` after that id, in id order, where
    ``frozen__*`` are the vote's transcript. The keyset bound is in the transcript join too: without
    it PostgreSQL merge-joined from the start of the transcript index, reading every earlier
    transcript for each chunk (100 s instead of 15 for 1M votes)."""
    def chunk(last_id: int) -> QuerySet:
        frozen = FilteredRelation("transcript", condition=Q(transcript__vote_id__gt=last_id))
        return votes.filter(id__gt=last_id).annotate(frozen=frozen).order_by("id").values_list(*columns)[:chunk_size]

    return chunk


def _orm_chunks(chunk: Callable[[int], QuerySet], chunk_size: int) -> Iterator[list[tuple]]:
    last_id = -1
    while True:
        rows = list(chunk(last_id))
        if rows:
            yield rows
        if len(rows) < chunk_size:
            return
        last_id = rows[-1][0]


_LAST_ID = -7_345_111_982  # a marker to find the keyset parameter in the compiled SQL's params


def prefetched_pg_chunks(chunk: Callable[[int], QuerySet], chunk_size: int, *, wrap=None, binary: bool = False,
                         after_fetch=None) -> Iterator:
    """The same keyset chunks, fetched one ahead by a thread: PostgreSQL builds the next chunk while
    Python writes this one, so the export takes about max(database, Python) instead of their sum.

    The thread runs the compiled SQL on this thread's own psycopg connection (so it sees the same
    data, in the same transaction if one is open) while this thread stays off the database; it uses
    psycopg's C loaders (Django's timestamptz loader is pure Python, ~20% of the export's time) and
    no JIT (the LIMIT makes the planner expect a huge query; compiling it cost ~100 ms per chunk).
    ``wrap`` turns the chunk's SQL into the SQL to run (a SELECT over it whose first column is the id);
    ``binary`` fetches results in PostgreSQL's binary format (bytea columns arrive as bytes, uncopied).
    ``after_fetch(cursor, rows)`` runs in the thread after each chunk (for more queries on the same
    connection); with it, the chunks come as ``(rows, its result)``.
    """
    sql, params = chunk(_LAST_ID).query.sql_with_params()
    if wrap is not None:
        sql = wrap(sql)
    params = list(params)
    slots = [index for index, value in enumerate(params) if value == _LAST_ID]
    connection.ensure_connection()
    raw = connection.connection
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch_all() -> None:
        try:
            # Django's cursors bind parameters client-side, which has no binary results.
            with (psycopg.Cursor(raw) if binary else raw.cursor()) as cursor:
                # uuid as text: the ids are written out as strings anyway (same lowercase hyphenated form).
                for name, as_type in (("timestamptz", "timestamptz"), ("uuid", "text")):
                    loader = psycopg.adapters.get_loader(pg_types[as_type].oid, pq.Format.TEXT)
                    cursor.adapters.register_loader(name, loader)
                last_id = -1
                while not stop.is_set():
                    for slot in slots:
                        params[slot] = last_id
                    with raw.transaction():
                        cursor.execute("SET LOCAL jit = off")
                        cursor.execute(sql, params, binary=binary)
                        rows = cursor.fetchall()
                        extra = after_fetch(cursor, rows) if after_fetch is not None else None
                    ready.put((rows, extra))
                    if len(rows) < chunk_size:
                        return
                    last_id = rows[-1][0]
        except BaseException as exc:  # handed to the reader, which re-raises it
            ready.put(exc)

    worker = threading.Thread(target=fetch_all, name="export-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            rows, extra = item
            if rows:
                yield rows if after_fetch is None else (rows, extra)
            if len(rows) < chunk_size:
                return
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            ready.get_nowait()  # unblock a worker waiting to hand over a chunk nobody will read
        worker.join()


def _records(rows: list[tuple], hasher: ParticipantHasher) -> list[VoteRecord]:
    # Votes stored without services.cast_vote (imports, fixtures) have no frozen transcripts:
    # build them from their messages by the same rule (arena/transcripts.py), one query per chunk.
    unfrozen = [row[1] for row in rows if row[8] is None or row[9] is None]
    rebuilt = transcripts_of(Battle.objects.filter(pk__in=unfrozen)) if unfrozen else {}
    records = []
    for (_id, battle_id, public_id, level, education, voted_at, model_a, model_b, transcript_a, transcript_b,
         content, language, overall, excluded, reasons) in rows:
        if transcript_a is None or transcript_b is None:
            transcript_a, transcript_b = rebuilt[str(battle_id)]
        records.append(VoteRecord(
            battle_id=str(battle_id),
            participant_hash=hasher(public_id),
            basque_level=level,
            education=education,
            voted_at=voted_at,
            model_a=model_a,
            model_b=model_b,
            transcript_a=transcript_a,
            transcript_b=transcript_b,
            content=content,
            language=language,
            overall=overall,
            excluded=excluded,
            exclusion_reasons=(loads(reasons) or []) if excluded and reasons else [],
        ))
    return records


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
