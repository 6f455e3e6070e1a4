"""Selector: one row per vote with both sides' style features, for the style-controlled fit.

Each side's features are summed over its turns (``AnswerStyle`` rows grouped by battle), joined to
the filtered votes, and read as one int32 matrix. On PostgreSQL the rows come through
``COPY … TO STDOUT (FORMAT binary)`` straight into numpy: every column is a non-null int4, so each
row is a fixed-size record (no per-row Python objects for a million votes). Elsewhere (SQLite in
tests) through the cursor.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from arena.models import Vote
from arena.ranking.counts import VoteFilters
from arena.vocabulary import DIMENSIONS

SIDE_FEATURES = ("tokens", "headers", "list_items", "bold", "basque_chars", "language_chars")
# Outcome codes seen from side A; 3 = "both bad" (a tie or left out, by the board's setting), 4 = unknown.
WEIGHT_SCALE = 1_000_000  # weights travel as integers (millionths): every COPY column is an int4
_OUTCOME_SQL = "CASE {col} WHEN 'A' THEN 0 WHEN 'tie' THEN 1 WHEN 'B' THEN 2 WHEN 'both_bad' THEN 3 ELSE 4 END"


@dataclass
class StyleRows:
    model_a: np.ndarray  # (N,) model ids
    model_b: np.ndarray
    outcomes: dict[str, np.ndarray]  # dimension -> (N,) codes 0..4
    side_a: np.ndarray  # (N, len(SIDE_FEATURES)) summed over the side's turns
    side_b: np.ndarray
    weights: np.ndarray  # (N,) each vote's weight in the fit (near-duplicate prompts weigh less)
    votes_without_style: int = 0  # matching votes none of whose answers have stored features

    def __len__(self) -> int:
        return len(self.model_a)


def _query(filters: VoteFilters) -> tuple[str, list]:
    votes = (Vote.objects.filter(filters.as_q())
             .values("battle_id", "model_a_id", "model_b_id", *DIMENSIONS, "weight").order_by())
    vote_sql, params = votes.query.sql_with_params()
    sums = ", ".join(
        f"SUM(CASE WHEN side = '{side}' THEN {name} ELSE 0 END) AS {name}_{side.lower()}"
        for side in "AB" for name in SIDE_FEATURES
    )
    columns = ", ".join(
        ["CAST(v.model_a_id AS integer)", "CAST(v.model_b_id AS integer)"]
        + [_OUTCOME_SQL.format(col=f"v.{dim}") for dim in DIMENSIONS]
        + [f"CAST(s.{name}_{side} AS integer)" for side in "ab" for name in SIDE_FEATURES]
        + [f"CAST(ROUND(v.weight * {WEIGHT_SCALE}) AS integer)"]  # int4 like every column (binary COPY)
    )
    sql = (f"SELECT {columns} FROM ({vote_sql}) v JOIN "
           f"(SELECT battle_id, {sums} FROM arena_answerstyle GROUP BY battle_id) s ON s.battle_id = v.battle_id")
    return sql, list(params)


def load_style_rows(filters: VoteFilters) -> StyleRows:
    """Every vote matching ``filters`` whose answers have style features, with those features."""
    sql, params = _query(filters)
    width = 2 + len(DIMENSIONS) + 2 * len(SIDE_FEATURES) + 1
    if connection.vendor == "postgresql":
        matrix = _copy_binary(sql, params, width)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            matrix = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, width)
    total = Vote.objects.filter(filters.as_q()).count()
    k = len(SIDE_FEATURES)
    return StyleRows(
        model_a=matrix[:, 0], model_b=matrix[:, 1],
        outcomes={dim: matrix[:, 2 + d] for d, dim in enumerate(DIMENSIONS)},
        side_a=matrix[:, 2 + len(DIMENSIONS):2 + len(DIMENSIONS) + k].astype(float),
        side_b=matrix[:, 2 + len(DIMENSIONS) + k:2 + len(DIMENSIONS) + 2 * k].astype(float),
        weights=matrix[:, -1] / WEIGHT_SCALE,
        votes_without_style=total - len(matrix),
    )


def _copy_binary(sql: str, params: list, width: int) -> np.ndarray:
    """COPY's binary format: a 19-byte header, then per row an int16 field count and, per field, an
    int32 length and the big-endian value; a trailing int16 −1."""
    record = np.dtype([("fields", ">i2")] + [(f"f{c}", [("length", ">i4"), ("value", ">i4")]) for c in range(width)])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # as for the counts: compiling costs more than it saves here
        raw = cursor.cursor  # the psycopg cursor: Django's wrapper has no COPY
        chunks = []
        with raw.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
    data = b"".join(chunks)
    body = data[19:-2]
    rows = np.frombuffer(body, dtype=record, count=len(body) // record.itemsize)
    if len(rows) and (rows["fields"] != width).any():
        raise ValueError("unexpected COPY row layout")
    return np.stack([rows[f"f{c}"]["value"] for c in range(width)], axis=1).astype(np.int64)
