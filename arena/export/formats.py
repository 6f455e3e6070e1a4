"""The three row formats: one vote record in, zero or more plain dict rows out, plus their Arrow schemas."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator

from arena.jsonio import dumps
from arena.vocabulary import DIMENSIONS, Choice, OverallChoice

from .options import ALL_DIMENSIONS
from .source import VoteRecord


class _Labels(dict):
    """Stored choice -> label; a choice outside the vocabulary (a corrupted row) stops the export clearly."""

    def __missing__(self, choice):
        raise ValueError(f"a vote has the choice {choice!r}, not one of {sorted(self)}")


# Stored choice -> the public datasets' winner labels (plain str keys: lines.py writes them into SQL).
WINNER = _Labels({Choice.A.value: "model_a", Choice.B.value: "model_b", Choice.TIE.value: "tie"})
OVERALL_WINNER = _Labels({**WINNER, OverallChoice.BOTH_BAD.value: "both_bad"})
# Chatbot Arena spells "both are bad" this way.
LMSYS_WINNER = _Labels({**WINNER, OverallChoice.BOTH_BAD.value: "tie (bothbad)"})


def _without_system(messages: list[dict]) -> list[dict]:
    return messages[1:] if messages and messages[0]["role"] == "system" else messages


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def ebaluatoia_rows(record: VoteRecord, dimension: str) -> Iterator[dict]:
    """Exactly the public columns of the original study's dataset, in its order."""
    yield {
        "id": record.battle_id,
        "username": record.participant_hash,
        "user_language": record.basque_level,
        "user_education": record.education,
        "timestamp": _iso(record.voted_at),
        "model_a": record.model_a,
        "model_b": record.model_b,
        "conv_a": record.conv_a,
        "conv_b": record.conv_b,
        "winner": OVERALL_WINNER[record.overall],
        "winner_content": WINNER[record.content],
        "winner_language": WINNER[record.language],
    }


@functools.lru_cache(maxsize=4096)
def _json_string(value: str) -> str:
    """A JSON string literal; cached because levels, educations and model names repeat on every row."""
    return dumps(value).decode("utf-8")


# The ebaluatoia row as a template: ids, hashes, timestamps and winner labels need no escaping,
# the free strings go through the JSON encoder, and the frozen transcripts are JSON already.
_EBALUATOIA_LINE = (
    '{{"id":"{}","username":"{}","user_language":{},"user_education":{},"timestamp":"{}","model_a":{},'
    '"model_b":{},"conv_a":{},"conv_b":{},"winner":"{}","winner_content":"{}","winner_language":"{}"}}'
)


def ebaluatoia_line(record: VoteRecord) -> str:
    """``dumps(ebaluatoia row)`` without building the row: the stored transcripts are spliced in as they
    are (parsing and re-encoding ~2 KB of JSON per vote was most of the export's time)."""
    return _EBALUATOIA_LINE.format(
        record.battle_id, record.participant_hash, _json_string(record.basque_level),
        _json_string(record.education), _iso(record.voted_at), _json_string(record.model_a),
        _json_string(record.model_b), record.transcript_a, record.transcript_b, OVERALL_WINNER[record.overall],
        WINNER[record.content], WINNER[record.language],
    )


def lmsys_rows(record: VoteRecord, dimension: str) -> Iterator[dict]:
    """The Chatbot Arena conversations schema. Its conversations have no system message, so none is
    added here (consumers read ``conversation_a[0]`` as the question); ebaluatoia carries them."""
    yield {
        "question_id": record.battle_id,
        "model_a": record.model_a,
        "model_b": record.model_b,
        "winner": LMSYS_WINNER[getattr(record, dimension)],
        "judge": record.participant_hash,
        "conversation_a": _without_system(record.conv_a),
        "conversation_b": _without_system(record.conv_b),
        "turn": sum(message["role"] == "user" for message in record.conv_a),
        "anony": True,
        "language": "Basque",
        "tstamp": record.voted_at.timestamp(),
    }


def dpo_rows(record: VoteRecord, dimension: str) -> Iterator[dict]:
    """One row per decided (non-tie, not both-bad) dimension, in TRL's conversational preference format.

    The prompt is what both sides saw: the shared system prompt (if the sides had the same one) and
    the first user turn. In a multi-turn battle each side then answered its own history, so the
    chosen/rejected completions are the rest of each side's conversation; that is also the prompt
    TRL's ``extract_prompt`` would find as the common prefix. For single-turn battles it is exactly
    "messages up to the last user turn".
    """
    sides = {"A": _without_system(record.conv_a), "B": _without_system(record.conv_b)}
    if not sides["A"] or sides["A"][0]["role"] != "user":
        return
    dimensions = DIMENSIONS if dimension == ALL_DIMENSIONS else (dimension,)
    for name in dimensions:
        choice = getattr(record, name)
        if choice not in (Choice.A, Choice.B):  # a tie or "both bad" prefers neither side
            continue
        loser = Choice.B.value if choice == Choice.A else Choice.A.value
        if len(sides[choice]) < 2 or len(sides[loser]) < 2:  # a side without an answer is no comparison
            continue
        prompt = []
        if record.system_a and record.system_a == record.system_b:
            prompt.append({"role": "system", "content": record.system_a})
        prompt.append(sides["A"][0])  # the first user turn, shared by both sides
        # How strongly the whole vote backs this pair: dimensions for the chosen side minus those against, / 3.
        votes = (record.overall, record.content, record.language)
        margin = (sum(v == choice for v in votes) - sum(v == loser for v in votes)) / 3
        yield {
            "id": record.battle_id,
            "prompt": prompt,
            "chosen": sides[choice][1:],
            "rejected": sides[loser][1:],
            "dimension": name,
            "margin": round(margin, 4),
        }


ROW_BUILDERS: dict[str, Callable[[VoteRecord, str], Iterator[dict]]] = {
    "ebaluatoia": ebaluatoia_rows,
    "lmsys": lmsys_rows,
    "dpo": dpo_rows,
}


def arrow_schema(name: str):
    """The Arrow schema of a format (Parquet and HF exports). pyarrow is imported only here: it adds
    ~60 MB to a JSONL export that never needs it."""
    import pyarrow as pa

    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    columns = {
        "ebaluatoia": ["id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b",
                       "conv_a", "conv_b", "winner", "winner_content", "winner_language"],
        "lmsys": ["question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn",
                  "anony", "language", "tstamp"],
        "dpo": ["id", "prompt", "chosen", "rejected", "dimension", "margin"],
    }[name]
    types = {
        "conv_a": messages, "conv_b": messages, "conversation_a": messages, "conversation_b": messages,
        "prompt": messages, "chosen": messages, "rejected": messages,
        "turn": pa.int64(), "anony": pa.bool_(), "tstamp": pa.float64(), "margin": pa.float64(),
    }
    return pa.schema([(column, types.get(column, pa.string())) for column in columns])
