"""Style features of one answer, stored when it is saved, for the style-controlled leaderboard.

Length in tokens, Markdown headers, list items and bold spans (the features lmarena's style control
uses), plus what this arena exists to catch: the share of the text that is Basque. The text is cut
into sentences and lingua names each sentence's language; code is left out (it is no language).
Model output is untrusted: every pattern here is linear-time, and the detector only ever sees text.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# The languages an answer in this arena switches between: Basque and its neighbours, and English.
# Restricting lingua to them makes it faster and more accurate on short sentences.
LANGUAGES = ("BASQUE", "SPANISH", "FRENCH", "ENGLISH")
MIN_SENTENCE_LETTERS = 12  # shorter fragments ("Ados.", "1)") say too little about their language

_CODE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_HEADER = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_MARKUP = re.compile(r"[#*_>|`\[\]()]+|^\s*(?:[-+]|\d{1,3}[.)])\s+", re.MULTILINE)


@dataclass(frozen=True)
class StyleFeatures:
    tokens: int
    headers: int
    list_items: int
    bold: int
    basque_chars: int  # letters in sentences detected as Basque
    language_chars: int  # letters in every sentence whose language was detected

    @property
    def basque_share(self) -> float | None:
        """Share of the detected text that is Basque; None when no sentence was long enough."""
        return self.basque_chars / self.language_chars if self.language_chars else None


@functools.lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*(getattr(Language, name) for name in LANGUAGES)).build()


def sentences(text: str) -> list[str]:
    """The prose of ``text`` cut into sentences, code and Markdown markers removed."""
    prose = _INLINE_CODE.sub(" ", _CODE_BLOCK.sub("\n", text))
    return [part.strip() for part in _SENTENCE_END.split(_MARKUP.sub(" ", prose)) if part and part.strip()]


def _letters(sentence: str) -> int:
    return sum(map(str.isalpha, sentence))


def candidate_sentences(text: str) -> list[str]:
    """The sentences of ``text`` long enough for lingua to name their language."""
    return [s for s in sentences(text) if _letters(s) >= MIN_SENTENCE_LETTERS]


def detect_languages(candidates: Iterable[str]) -> dict[str, str | None]:
    """Each distinct sentence's language name ("BASQUE", ...; None when lingua cannot tell), in one
    parallel lingua call: a batch's answers together spread over the cores and pay the call once."""
    distinct = list(dict.fromkeys(candidates))
    if not distinct:
        return {}
    found = _detector().detect_languages_in_parallel_of(distinct)
    return {sentence: (language.name if language is not None else None) for sentence, language in zip(distinct, found)}


def language_chars(text: str, languages: Mapping[str, str | None] | None = None) -> tuple[int, int]:
    """(letters in Basque sentences, letters in all sentences whose language lingua detected);
    ``languages`` are sentences already detected (``detect_languages``), else lingua runs here."""
    candidates = candidate_sentences(text)
    if not candidates:
        return 0, 0
    if languages is None or any(sentence not in languages for sentence in candidates):
        languages = detect_languages(candidates)
    basque = detected = 0
    for sentence in candidates:
        language = languages[sentence]
        if language is None:
            continue
        letters = _letters(sentence)
        detected += letters
        if language == "BASQUE":
            basque += letters
    return basque, detected


def style_features(text: str, token_count: int = 0,
                   languages: Mapping[str, str | None] | None = None) -> StyleFeatures:
    """Features of one answer; ``token_count`` is the server's count when it reported one, ``languages``
    its sentences' languages when a batch detected them together (``detect_languages``)."""
    text = text or ""
    without_code = _CODE_BLOCK.sub("\n", text)
    basque, detected = language_chars(text, languages)
    return StyleFeatures(
        tokens=token_count if token_count > 0 else len(_TOKEN.findall(text)),
        headers=len(_HEADER.findall(without_code)),
        list_items=len(_LIST_ITEM.findall(without_code)),
        bold=len(_BOLD.findall(without_code)),
        basque_chars=basque, language_chars=detected,
    )
