"""Researchers' preference-data export (issue #5).

``ExportForm`` validates options for the page and the command; ``Export`` streams a zip bundle
(data file + flags.jsonl + manifest.json) or builds a Hugging Face datasets folder. See docs/export.md.
"""
from .bundle import Export
from .hashing import ExportConfigurationError, ParticipantHasher
from .options import ExportForm, ExportOptions

__all__ = ["Export", "ExportConfigurationError", "ExportForm", "ExportOptions", "ParticipantHasher"]
