"""``reactions.jsonl``: the volunteers' reactions to the exported answers, one line per exported vote
that has any, joined to the data file by ``id`` (the battle's UUID).

A file of its own, beside the data: every format's data file stays exactly as before (``ebaluatoia``
is the original study's columns, and its lines are written by PostgreSQL), and a loader that does
not know reactions never sees them. Read in battle order with a server-side iterator and grouped on
the fly, so memory stays flat however many votes have reactions.
"""
from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count

from arena.jsonio import dumps
from arena.models import Reaction

from .options import ExportOptions
from .source import matching_votes

REACTIONS_NAME = "reactions.jsonl"
KINDS = tuple(Reaction.Kind.values)


def _line(battle_id, sides: dict[str, dict[str, int]]) -> bytes:
    return dumps({"id": str(battle_id), "reactions_a": sides["A"], "reactions_b": sides["B"]}) + b"\n"


def reaction_lines(options: ExportOptions, upper_id: int | None) -> Iterator[tuple[bytes, int]]:
    """(line, reactions on it) for each vote the export carries (ids up to ``upper_id``) whose answers
    have reactions: per side, how many of each kind, summed over the turns (all kinds listed)."""
    if upper_id is None:
        return
    votes = matching_votes(options).filter(id__lte=upper_id).values("battle_id")
    rows = (Reaction.objects.filter(message__battle_id__in=votes)
            .values_list("message__battle_id", "message__side", "kind").annotate(n=Count("id"))
            .order_by("message__battle_id", "message__side", "kind"))
    current, sides, total = None, None, 0
    for battle_id, side, kind, n in rows.iterator(chunk_size=5000):
        if battle_id != current:
            if current is not None:
                yield _line(current, sides), total
            current, total = battle_id, 0
            sides = {"A": dict.fromkeys(KINDS, 0), "B": dict.fromkeys(KINDS, 0)}
        if side in sides and kind in sides[side]:
            sides[side][kind] += n
            total += n
    if current is not None:
        yield _line(current, sides), total
