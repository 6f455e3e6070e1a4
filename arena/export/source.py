"""Read votes with their conversations in chunks, with flat memory.

Keyset pagination on the vote id (``id > last ORDER BY id LIMIT n``) instead of one long cursor:
it streams the same way on SQLite and PostgreSQL, holds no transaction or server-side cursor open
while a slow client downloads, and the first rows arrive at once. Each chunk is one query: votes
joined to battle, participant and models, with each side's messages aggregated to JSON in SQL.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

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
    "battle__model_a__public_name", "battle__model_b__public_name", "system_a", "system_b", "conv_a", "conv_b",
    "content", "language", "overall", "excluded", "reasons",
)

# One side's messages as a JSON array, aggregated by the database: one row per vote instead of ~4
# message rows through the ORM is what makes 50k votes/s possible. Same order on both backends.
_CONVERSATION_SQL = {
    "postgresql": (
        "(SELECT json_agg(json_build_object('role', m.role, 'content', m.content) ORDER BY m.turn, m.side)::text"
        " FROM arena_message m WHERE m.battle_id = arena_vote.battle_id AND m.side IN ('', %s))"
    ),
    # SQLite keeps the order of an ordered subquery in json_group_array.
    "sqlite": (
        "(SELECT json_group_array(json_object('role', m.role, 'content', m.content)) FROM"
        " (SELECT role, content FROM arena_message WHERE battle_id = arena_vote.battle_id AND side IN ('', %s)"
        "  ORDER BY turn, side) m)"
    ),
}


def _conversation(side: str) -> RawSQL:
    sql = _CONVERSATION_SQL.get(connection.vendor)
    if sql is None:
        raise NotImplementedError(f"exports support PostgreSQL and SQLite, not {connection.vendor}")
    return RawSQL(sql, [side], output_field=TextField())


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
            conv_a=_conversation("A"),
            conv_b=_conversation("B"),
            # As text: parsed only for the few flagged votes instead of for every row.
            reasons=Cast("exclusion_reasons", TextField()),
        )
        .order_by("id")
        .values_list(*VOTE_COLUMNS)
    )
    last_id = -1
    while True:
        rows = list(rows_query.filter(id__gt=last_id)[:chunk_size])
        if not rows:
            return
        last_id = rows[-1][0]
        yield [_record(row, hasher) for row in rows]
        if len(rows) < chunk_size:
            return


def _record(row: tuple, hasher: ParticipantHasher) -> VoteRecord:
    (_id, battle_id, public_id, level, education, voted_at, model_a, model_b, system_a, system_b,
     conv_a, conv_b, content, language, overall, excluded, reasons) = row
    system_a, system_b = system_a or "", system_b or ""
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


def _with_system(system: str, messages_json: str | None) -> list[dict]:
    messages = loads(messages_json) if messages_json else []
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
