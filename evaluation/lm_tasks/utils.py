"""Prompt and metric helpers for the offline Basque task YAMLs (copied beside them at run time).

Prompts follow the upstream lm-eval tasks (eus_trivia, eus_exams, basqueglue) so local scores are
comparable with the hub versions. Two deliberate differences, both because of the data pack:
- WiC text is HTML-unescaped before upstream's latin-1 -> utf-8 re-decoding (the pack stores the
  mojibake as entities, "I&Atilde;±aki"), and the re-decoding is applied per sentence, keeping
  the sentences it cannot decode: those the pack already repaired ("Iñaki" is not latin-1 mojibake).
- The F1 aggregations are computed here: upstream calls ``datasets.load_metric``, which no longer
  exists in datasets>=3.
"""
from __future__ import annotations

import html
import re

LETTERS = ["A", "B", "C", "D"]


def trivia_doc_to_text(doc) -> str:
    candidates = doc["candidates"]
    if len(candidates) < 2:
        raise ValueError(f"eus_trivia item {doc.get('id')} has fewer than 2 candidates")
    choices = "\n".join(f"{LETTERS[i]}: {text}" for i, text in enumerate(candidates))
    return f"Galdera: {doc['question']}\n{choices}\nErantzuna:"


def trivia_doc_to_choice(doc) -> list[str]:
    return LETTERS[: len(doc["candidates"])]


def exams_process_docs(dataset):
    """Same filter as upstream eus_exams: drop items with no valid answer or no candidates."""
    return dataset.filter(lambda doc: doc["answer"] in (0, 1, 2, 3) and doc["candidates"] != ["", "", "", ""])


def _detokenize(text: str) -> str:
    text = re.sub(r"\s+([.,;:!?)])", r"\1", text)
    text = re.sub(r"(\s+|^)\(\s+([^)]+)\s+\)", r"\1(\2)", text)
    text = re.sub(r"(\s+|^)\[\s+([^)]+)\s+\]", r"\1[\2]", text)
    text = re.sub(r'(\s+|^)"\s+([^"]+)\s+"', r'\1"\2"', text)
    text = re.sub(r"(\s+|^)'\s+([^']+)\s+'", r"\1'\2'", text)
    return text


def _clean(text: str) -> str:
    return _detokenize(html.unescape(text))


def repair_mojibake(text: str) -> str:
    """Upstream's ``.encode("latin-1").decode("utf-8")``, keeping text it cannot decode (already clean)."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _clean_wic(text: str) -> str:
    return _detokenize(repair_mojibake(html.unescape(text)))


def wic_process_docs(dataset):
    return dataset.map(lambda doc: {"sentence1": _clean_wic(doc["sentence1"]),
                                    "sentence2": _clean_wic(doc["sentence2"])})


def coref_doc_to_text(doc) -> str:
    tokens = doc["text"].split(" ")

    def mark(start: int, span: str) -> None:
        end = start + len(span.split(" ")) - 1
        tokens[start] = f"*{tokens[start]}"
        tokens[end] = f"{tokens[end]}*"

    mark(doc["span1_index"], doc["span1_text"])
    mark(doc["span2_index"] - 1, doc["span2_text"])  # span2_index is 1-based in the source (as upstream)
    context = _clean(" ".join(tokens))
    return (
        f"Testua: {context}\n"
        f'Galdera: Aurreko testuan, "*{_clean(doc["span1_text"])}*" eta "*{_clean(doc["span2_text"])}*" gauza bera dira?\n'
        "Erantzuna:"
    )


def _f1_per_label(golds, preds, label) -> float:
    tp = sum(1 for g, p in zip(golds, preds) if g == label and p == label)
    fp = sum(1 for g, p in zip(golds, preds) if g != label and p == label)
    fn = sum(1 for g, p in zip(golds, preds) if g == label and p != label)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def micro_f1_score(items) -> float:
    """Micro F1 as BasqueGLUE's eval script (single-label: equals accuracy)."""
    golds, preds = zip(*items)
    return sum(1 for g, p in zip(golds, preds) if g == p) / len(golds)


def vaxx_f1_score(items) -> float:
    """VaxxStance: mean F1 of AGAINST (0) and FAVOR (2), as BasqueGLUE's eval script."""
    golds, preds = zip(*items)
    return (_f1_per_label(golds, preds, 0) + _f1_per_label(golds, preds, 2)) / 2
