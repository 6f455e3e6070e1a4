"""The manifest every export carries, and the statistics it reports."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings

from .hashing import HASH_HEX_CHARS
from .options import ExportOptions
from .source import VoteRecord

MANIFEST_NAME = "manifest.json"
FLAGS_NAME = "flags.jsonl"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``settings.ARENA["CODE_VERSION"]`` if set (deployments without .git), else ``git describe``, else "unknown"."""
    if settings.ARENA["CODE_VERSION"]:
        return settings.ARENA["CODE_VERSION"]
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=5, check=True,
        )
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def salt_id(salt: bytes) -> str:
    """A public fingerprint of the secret salt: two exports with the same salt_id have comparable hashes."""
    return hmac.new(salt, b"basque-arena export salt id", hashlib.sha256).hexdigest()[:8]


@dataclass
class ChunkCounts:
    """What the manifest counts of one chunk of exported votes, and the flagged ones to list."""

    votes: int
    flagged: list[tuple[str, list]] = field(default_factory=list)  # (battle id, exclusion reasons)
    first_vote_at: dt.datetime | None = None
    last_vote_at: dt.datetime | None = None
    models: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, records: list[VoteRecord]) -> ChunkCounts:
        return cls(
            votes=len(records),
            flagged=[(record.battle_id, record.exclusion_reasons) for record in records if record.excluded],
            first_vote_at=min((record.voted_at for record in records), default=None),
            last_vote_at=max((record.voted_at for record in records), default=None),
            models={name for record in records for name in (record.model_a, record.model_b)},
        )


@dataclass
class ExportStats:
    """Counted while streaming, so the manifest never needs a second pass over the data."""

    votes: int = 0
    rows: int = 0
    flagged_votes_exported: int = 0
    rows_by_dimension: Counter = field(default_factory=Counter)
    first_vote_at: dt.datetime | None = None
    last_vote_at: dt.datetime | None = None
    models: set[str] = field(default_factory=set)

    def add(self, chunk: ChunkCounts) -> None:
        self.votes += chunk.votes
        self.flagged_votes_exported += len(chunk.flagged)
        if chunk.first_vote_at is not None and (self.first_vote_at is None or chunk.first_vote_at < self.first_vote_at):
            self.first_vote_at = chunk.first_vote_at
        if chunk.last_vote_at is not None and (self.last_vote_at is None or chunk.last_vote_at > self.last_vote_at):
            self.last_vote_at = chunk.last_vote_at
        self.models |= chunk.models

    def add_rows(self, rows: list[dict], dimension_key: str | None) -> None:
        self.rows += len(rows)
        if dimension_key:
            self.rows_by_dimension.update(row[dimension_key] for row in rows)

    def as_dict(self) -> dict:
        return {
            "votes": self.votes,
            "rows": self.rows,
            "rows_by_dimension": dict(sorted(self.rows_by_dimension.items())),
            "flagged_votes_exported": self.flagged_votes_exported,
            "first_vote_at": self.first_vote_at.astimezone(dt.UTC).isoformat() if self.first_vote_at else None,
            "last_vote_at": self.last_vote_at.astimezone(dt.UTC).isoformat() if self.last_vote_at else None,
            "models": sorted(self.models),
        }


def build_manifest(
    options: ExportOptions, stats: ExportStats, exclusions: dict, files: dict[str, dict], *, salt: bytes,
    started_at: dt.datetime,
) -> dict:
    return {
        "dataset": "Basque LLM arena human preferences",
        "format": options.format,
        "file_type": options.file_type,
        "filters": options.describe(),
        "counts": stats.as_dict(),
        "exclusions": exclusions,
        "files": files,  # name -> {"sha256", "bytes"} of each data file exactly as delivered
        "participant_hash": {
            "scheme": f"HMAC-SHA256(secret salt, participant public_id), first {HASH_HEX_CHARS} hex digits",
            "salt_id": salt_id(salt),
        },
        "license": settings.ARENA["DATASET_LICENSE"],
        "code_version": code_version(),
        "started_at": started_at.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }
