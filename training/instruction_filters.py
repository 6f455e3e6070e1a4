"""Filters for synthetic instructions; each one reports how many items it saw and removed."""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Item:
    instruction: str
    finish_reason: str = "stop"
    response: str = ""
    response_finish_reason: str = "stop"
    language: str | None = None
    original_instruction: str | None = None  # set when the instruction was translated
    original_response: str | None = None  # set when the whole conversation was translated
    task: str | None = None  # a judge's tags (Magpie's task category and input quality)
    quality: str | None = None


@dataclass
class FilterReport:
    name: str
    seen: int
    removed: int

    @property
    def kept(self) -> int:
        return self.seen - self.removed


def apply_filter(items: list[Item], name: str, keep: Callable[[Item], bool], reports: list[FilterReport]) -> list[Item]:
    kept = [item for item in items if keep(item)]
    reports.append(FilterReport(name, len(items), len(items) - len(kept)))
    return kept


def normalise(text: str) -> str:
    return " ".join(WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def drop_exact_duplicates(items: list[Item], reports: list[FilterReport], name="exact_duplicate") -> list[Item]:
    seen: set[str] = set()

    def first(item: Item) -> bool:
        key = normalise(item.instruction)
        if key in seen:
            return False
        seen.add(key)
        return True

    return apply_filter(items, name, first, reports)


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def drop_near_duplicates(items: list[Item], threshold: float, reports: list[FilterReport],
                         name="near_duplicate") -> list[Item]:
    """Keep the first of any group whose word-3-gram Jaccard similarity is >= threshold.

    Candidates come from an inverted index of shingles, so only items sharing a shingle are compared:
    fine for the tens of thousands of items a study run produces (MinHash/LSH would be the next step).
    """
    index: dict[tuple, list[int]] = defaultdict(list)
    kept_sets: list[set] = []

    def novel(item: Item) -> bool:
        grams = shingles(item.instruction)
        candidates = {j for g in grams for j in index.get(g, ())}
        for j in candidates:
            other = kept_sets[j]
            if len(grams & other) / len(grams | other) >= threshold:
                return False
        kept_sets.append(grams)
        for g in grams:
            index[g].append(len(kept_sets) - 1)
        return True

    return apply_filter(items, name, novel, reports)


class LanguageIdentifier:
    """lingua, restricted to a few languages: fast, and its models ship inside the wheel (offline)."""

    LANGUAGES = ("BASQUE", "ENGLISH", "SPANISH", "FRENCH")

    def __init__(self, min_confidence: float = 0.5):
        from lingua import Language, LanguageDetectorBuilder

        self.detector = LanguageDetectorBuilder.from_languages(
            *(getattr(Language, name) for name in self.LANGUAGES)
        ).build()
        self.min_confidence = min_confidence

    def identify(self, text: str) -> str:
        """ISO 639-1 code of the most likely language, or "other" when unsure."""
        values = self.detector.compute_language_confidence_values(text)
        if not values or values[0].value < self.min_confidence:
            return "other"
        return values[0].language.iso_code_639_1.name.lower()
