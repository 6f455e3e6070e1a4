"""Prompt labels: the language a prompt is written in and its topics (categories).

The labeller is pluggable (``settings.ARENA["PROMPT_LABELLER"]``, a dotted path to a class with
``label(text, categories) -> list[slug]``). The default, :class:`KeywordLabeller`, applies the
keyword rules admins edit (``Category.keywords``): one Basque word start per line, matched at the
start of a word so that Basque inflection matches ("programa" → programazioa, programak), case and
accents ignored; a rule of several words matches that phrase. :class:`LLMJudgeLabeller` asks an
LLM judge registered as a served model (``ARENA["PROMPT_JUDGE_MODEL"]``, its public name) in Basque
instead; its answer is untrusted text, of which only the known category codes are kept.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils.module_loading import import_string

from arena import style

ISO_CODES = {"BASQUE": "eu", "SPANISH": "es", "FRENCH": "fr", "ENGLISH": "en"}
MIN_LANGUAGE_LETTERS = 12  # below this, lingua guesses: the language stays unknown ("")


def normalise(text: str) -> str:
    """Lower case, accents removed, every run of non-letters a single space (with spaces around)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " " + re.sub(r"[^\w]+", " ", letters).strip() + " "


@functools.lru_cache(maxsize=256)  # a category's rules change rarely; every prompt of a batch uses them
def keyword_pattern(keywords: str) -> re.Pattern | None:
    """One regex for a category's rules: each line a word start (or phrase start) in the normalised text."""
    stems = [normalise(line).strip() for line in keywords.splitlines()]
    stems = [stem for stem in stems if stem]
    if not stems:
        return None
    return re.compile(" (?:" + "|".join(re.escape(stem) for stem in sorted(stems, key=len, reverse=True)) + ")")


class KeywordLabeller:
    """The default labeller: the admins' keyword rules."""

    def label(self, text: str, categories: Iterable) -> list[str]:
        prose = normalise(text)
        found = []
        for category in categories:
            pattern = keyword_pattern(category.keywords)
            if pattern is not None and pattern.search(prose):
                found.append(category.slug)
        return found


JUDGE_SYSTEM = (
    "Euskarazko txat-arena bateko erabiltzaileen galderak sailkatzen dituzu. Erantzun kategoria egokien "
    "kodeekin bakarrik, komaz bereizita, edo 'bat ere ez' bat ere egokia ez bada. Kategoriak:\n{categories}"
)
JUDGE_MAX_CHARS = 300  # a list of codes is short; anything longer is cut (the judge's output is untrusted)


class LLMJudgeLabeller:
    """Categories chosen by an LLM judge (a served model), prompted in Basque."""

    def label(self, text: str, categories: Iterable) -> list[str]:
        categories = list(categories)
        if not categories:
            return []
        listing = "\n".join(f"- {category.slug}: {category.name}" for category in categories)
        messages = [{"role": "system", "content": JUDGE_SYSTEM.format(categories=listing)},
                    {"role": "user", "content": text}]
        answer = normalise(async_to_sync(_judge_answer)(messages))
        return [category.slug for category in categories if f" {normalise(category.slug).strip()} " in answer]


async def _judge_answer(messages: list[dict]) -> str:
    from models_serving.client import stream_chat
    from models_serving.models import ServedModel
    from models_serving.selectors import endpoint_for

    model = await ServedModel.objects.select_related("base_model").aget(public_name=settings.ARENA["PROMPT_JUDGE_MODEL"])
    parts = [delta async for delta in stream_chat(endpoint_for(model), messages, temperature=0.0, top_p=1.0,
                                                  max_tokens=64, max_chars=JUDGE_MAX_CHARS)]
    return "".join(parts)


@functools.lru_cache(maxsize=4)
def _labeller_class(path: str):
    return import_string(path)


def labeller():
    return _labeller_class(settings.ARENA["PROMPT_LABELLER"])()


def prompt_language(text: str) -> str:
    """ISO code of the prompt's language (lingua, the arena's four languages), "" when too short."""
    if sum(ch.isalpha() for ch in text) < MIN_LANGUAGE_LETTERS:
        return ""
    language = style._detector().detect_language_of(text)
    return ISO_CODES.get(language.name, "") if language is not None else ""
