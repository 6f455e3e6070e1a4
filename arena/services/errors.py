"""The one error a service raises for a refusal the volunteer should see."""
from __future__ import annotations


class ArenaError(Exception):
    """A refusal the volunteer should see: ``code`` for machines, ``message`` (translated) for people."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code = code
        self.message = message
