"""Selector: one row per vote with both sides' style features, for the style-controlled fit.

Each side's features, summed over its turns, are stored once per vote (``VoteStyle``, written with the
answers' features by arena/services/styles.py). (Grouping the two million ``AnswerStyle`` rows of a
million votes here took most of the 8.9 s a style-controlled board took at that size.)

On PostgreSQL two reads run at once on their own connections, each one scan without a join: the
filtered votes' columns, and the style rows in the votes' id range. Every column comes back as one
``int4[]`` (``array_agg``) in binary form, parsed by numpy without a Python object per value, and the
two are matched by vote id in numpy. Measured at 1M votes (bench/leaderboard_bench.py): a binary
``COPY`` of the joined rows yields one message per row, ~4 s of Python; the same rows as arrays with
the join in PostgreSQL, split over two connections, 5.4–6.2 s (each half hashed the whole style
table); these two scans, 2.2–3.0 s. Elsewhere (SQLite in tests) the joined rows through the cursor.
"""
from __future__ import annotations

from dataclasses import dataclass

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
from django.db import connection, connections, transaction
from psycopg.adapt import Loader
from psycopg.pq import Format

from arena.models import Vote, VoteStyle
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
    """The joined rows (the portable path)."""
    vote_sql, params = _votes_sql(filters)
    columns = ", ".join(VOTE_COLUMNS[1:-1] + STYLE_COLUMNS[1:] + VOTE_COLUMNS[-1:])  # the matrix's column order
    sql = f"SELECT {columns} FROM ({vote_sql}) v JOIN {VoteStyle._meta.db_table} s ON s.vote_id = v.id"
    return sql, list(params)


def _votes_sql(filters: VoteFilters) -> tuple[str, tuple]:
    votes = Vote.objects.filter(filters.as_q()).values("id", "model_a_id", "model_b_id", *DIMENSIONS, "weight")
    return votes.order_by().query.sql_with_params()


# Every column an int4 (the binary array parser's one layout): outcome codes, weights in millionths.
VOTE_COLUMNS = (["CAST(v.id AS integer)", "CAST(v.model_a_id AS integer)", "CAST(v.model_b_id AS integer)"]
                + [_OUTCOME_SQL.format(col=f"v.{dim}") for dim in DIMENSIONS]
                + [f"CAST(ROUND(v.weight * {WEIGHT_SCALE}) AS integer)"])
STYLE_COLUMNS = ["CAST(s.vote_id AS integer)"] + [f"CAST(s.{name}_{side} AS integer)"
                                                  for side in "ab" for name in SIDE_FEATURES]
WIDTH = 2 + len(DIMENSIONS) + 2 * len(SIDE_FEATURES) + 1


def load_style_rows(filters: VoteFilters) -> StyleRows:
    """Every vote matching ``filters`` whose answers have style features, with those features."""
    if connection.vendor == "postgresql":
        matrix = _read_postgresql(filters)
    else:
        sql, params = _query(filters)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            matrix = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, WIDTH)
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


def _read_postgresql(filters: VoteFilters) -> np.ndarray:
    vote_sql, params = _votes_sql(filters)
    votes_query = f"SELECT {_aggregated(VOTE_COLUMNS)} FROM ({vote_sql}) v"
    # Only the style rows in the votes' id range: a date filter reads a slice, not the table.
    styles_query = (f"SELECT {_aggregated(STYLE_COLUMNS)} FROM {VoteStyle._meta.db_table} s "
                    f"WHERE s.vote_id BETWEEN (SELECT MIN(id) FROM ({vote_sql}) v) AND (SELECT MAX(id) FROM ({vote_sql}) w)")
    reads = [(votes_query, list(params)), (styles_query, list(params) * 2)]
    if connection.in_atomic_block:  # inside a transaction (tests): its own snapshot, one connection
        votes, styles = (_read_columns(sql, args) for sql, args in reads)
    else:
        with ThreadPoolExecutor(2) as pool:
            votes, styles = pool.map(lambda read: _read_columns_in_thread(*read), reads)
    if votes is None or styles is None:
        return np.zeros((0, WIDTH), dtype=np.int64)
    order = np.argsort(styles[0])
    style_ids = styles[0][order]
    found = np.minimum(np.searchsorted(style_ids, votes[0]), len(style_ids) - 1)
    has_style = style_ids[found] == votes[0]
    rows = order[found[has_style]]
    columns = ([column[has_style] for column in votes[1:-1]] + [column[rows] for column in styles[1:]]
               + [votes[-1][has_style]])
    return np.stack(columns, axis=1)  # int32, native order: stacking converts; no int64 copy (memory)


def _aggregated(columns: list[str]) -> str:
    return ", ".join(f"array_agg({column})" for column in columns)  # one pass: the same row order in each


def _read_columns_in_thread(sql: str, params: list) -> list[np.ndarray] | None:
    try:
        return _read_columns(sql, params)
    finally:
        connections.close_all()  # this thread's own connection


class _RawArray(Loader):
    """Hands an ``int4[]`` back as its binary wire form, for numpy."""

    format = Format.BINARY

    def load(self, data):
        return bytes(data)


def _read_columns(sql: str, params: list) -> list[np.ndarray] | None:
    """One row of ``int4[]`` aggregates as numpy columns; None when no row matched."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # as for the counts: compiling costs more than it saves here
        with psycopg.Cursor(cursor.cursor.connection) as raw:  # Django's cursor is client-side: no binary results
            raw.adapters.register_loader(INT4_ARRAY_OID, _RawArray)
            raw.execute(sql, params, binary=True)
            row = raw.fetchone()
    if row is None or row[0] is None:
        return None
    return [_int4_array(data) for data in row]


INT4_ARRAY_OID = 1007
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i4")])


def _int4_array(data: bytes) -> np.ndarray:
    """PostgreSQL's binary array: ndim, has-nulls flag, element type, then (size, lower bound) per
    dimension, then an int32 length and the big-endian value per element."""
    ndim, has_nulls = np.frombuffer(data, dtype=">i4", count=2)
    if ndim != 1 or has_nulls:
        raise ValueError("unexpected array layout")
    elements = np.frombuffer(data, dtype=_ELEMENT, offset=20)
    if (elements["length"] != 4).any():
        raise ValueError("unexpected array element")
    return elements["value"]
