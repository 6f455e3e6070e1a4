"""Pseudonymous participant ids for exports."""
from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

HASH_HEX_CHARS = 16  # 64 bits: no collisions in practice, short enough to read in a table
MAX_CACHED = 200_000


class ExportConfigurationError(RuntimeError):
    """The server is not set up to export (e.g. no secret salt)."""


def export_salt() -> bytes:
    salt = settings.ARENA["EXPORT_SALT"]
    if not salt:
        raise ExportConfigurationError("ARENA_EXPORT_SALT is not set: exports need a secret salt to hash participants.")
    return salt.encode("utf-8")


class ParticipantHasher:
    """HMAC-SHA256(salt, public_id), hex, truncated. Keyed by the secret salt so nobody without it can
    test a guessed public_id; the same salt gives the same hash in every export. Cached because a
    participant votes many times."""

    def __init__(self, salt: bytes | None = None):
        self._salt = salt if salt is not None else export_salt()
        self._cache: dict[str, str] = {}

    def __call__(self, public_id) -> str:
        key = str(public_id)
        value = self._cache.get(key)
        if value is None:
            value = hmac.new(self._salt, key.encode("ascii"), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]
            if len(self._cache) >= MAX_CACHED:  # keeps memory flat even with millions of participants
                self._cache.clear()
            self._cache[key] = value
        return value
