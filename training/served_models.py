"""Calls to served models (any OpenAI-compatible endpoint, e.g. one of the arena's vLLM servers) for the
instructions pipeline: translation, and task/quality tagging by a judge model (Magpie's "unitag" step).

Model output is untrusted: a judge reply that is not the expected JSON gives the tags ``unparsed`` (counted
in the manifest, and removed by the quality filter), never an exception in the middle of a run.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

# Magpie's task categories and input-quality scale (its unitag step), which the filters below refer to.
TASK_CATEGORIES = ("Information seeking", "Reasoning", "Planning", "Editing", "Coding & Debugging", "Math",
                   "Role playing", "Data analysis", "Creative writing", "Advice seeking", "Brainstorming",
                   "Translation", "Others")
QUALITY_LEVELS = ("very poor", "poor", "average", "good", "excellent")
UNPARSED = "unparsed"

JUDGE_PROMPT = (
    "Classify the user query below. Reply with JSON only, as "
    '{{"task_category": ONE OF {categories}, "input_quality": ONE OF {levels}}}. '
    "input_quality rates how clear, specific and well-formed the query is.\n\n## User query\n{instruction}"
)


@dataclass
class Tags:
    task: str
    quality: str


def _client(url: str, api_key_env: str | None):
    import openai

    api_key = os.environ.get(api_key_env, "") if api_key_env else ""
    return openai.OpenAI(base_url=url, api_key=api_key or "EMPTY", timeout=120)


def openai_translator(url: str, model: str, target: str, api_key_env: str | None = None) -> Callable[[str], str]:
    """Translate a text into ``target`` (ISO code), greedily, keeping its formatting."""
    client = _client(url, api_key_env)

    def translate(text: str) -> str:
        reply = client.chat.completions.create(
            model=model, temperature=0.0,
            messages=[
                {"role": "system", "content": f"Translate the user's message into the language with ISO code "
                                              f"'{target}'. Keep its formatting (lists, code, Markdown). "
                                              "Reply with the translation only."},
                {"role": "user", "content": text},
            ],
        )
        return (reply.choices[0].message.content or "").strip()

    return translate


def parse_tags(reply: str) -> Tags:
    """The judge's JSON, tolerating text around it; unknown values become ``unparsed``."""
    match = re.search(r"\{.*\}", reply or "", re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else {}
    except json.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    task = str(data.get("task_category", "")).strip()
    quality = str(data.get("input_quality", "")).strip().lower()
    return Tags(task if task in TASK_CATEGORIES else UNPARSED, quality if quality in QUALITY_LEVELS else UNPARSED)


def openai_judge(url: str, model: str, api_key_env: str | None = None) -> Callable[[str], Tags]:
    client = _client(url, api_key_env)
    prompt = JUDGE_PROMPT.replace("{categories}", json.dumps(list(TASK_CATEGORIES))).replace(
        "{levels}", json.dumps(list(QUALITY_LEVELS)))

    def judge(instruction: str) -> Tags:
        reply = client.chat.completions.create(
            model=model, temperature=0.0, max_tokens=64,
            messages=[{"role": "user", "content": prompt.replace("{instruction}", instruction)}])
        return parse_tags(reply.choices[0].message.content or "")

    return judge
