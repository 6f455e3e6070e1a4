"""The averages the benchmarks page shows, and the study's 14-task protocol as a suite (no Django here).

The study (the arena paper's results notebook) correlated the arena with a "Basque average": the
unweighted mean of 14 tasks, 5-shot, instruct models with ``--apply_chat_template
--fewshot_as_multiturn``, no BasqueGLUE (rho = 0.849 overall, 0.841 content, 0.806 language).
``--suite basque-study`` runs those tasks: upstream lm-eval names when the Hugging Face hub is
reachable, else the offline copies the data pack has. Four of them are not lm-eval 0.4.13 tasks
(the study used HiTZ's task definitions): they are listed as unavailable, and an average without
them is marked as not the study's. BasqueGLUE is its own average.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Member:
    benchmark: str  # the upstream name scores are stored under
    metric: str
    filter: str = "none"
    hub: str = ""  # the lm-eval task (or our group) on the hub; "" = not in lm-eval 0.4.13
    offline: str = ""  # the offline copy in lm_tasks/, "" = not in the data pack
    label: str = ""


@dataclass(frozen=True)
class Average:
    key: str
    label: str  # lazily translated
    members: tuple[Member, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.benchmark for m in self.members)


STUDY = Average("study", _("Basque average (the study's 14 tasks)"), (
    Member("arc_eu_challenge", "acc", hub="arc_eu_challenge", label="ARC-c"),
    Member("arc_eu_easy", "acc", hub="arc_eu_easy", label="ARC-e"),
    Member("belebele_eus_Latn", "acc", hub="belebele_eus_Latn", label="Belebele"),
    Member("bertaqa_eu_global", "acc", label="BertaQA global"),
    Member("bertaqa_eu_local", "acc", label="BertaQA local"),
    Member("bl2mp", "acc", label="BL2MP"),
    # Upstream eus_exams_eu is a tag (no score of its own): our group eus_exams_eu_hub adds it.
    Member("eus_exams_eu", "acc", hub="eus_exams_eu_hub", offline="eus_exams_eu_local", label="EusExams"),
    Member("eus_proficiency", "acc", hub="eus_proficiency", label="EusProficiency"),
    Member("eus_reading", "acc", hub="eus_reading", label="EusReading"),
    Member("eus_trivia", "acc", hub="eus_trivia", offline="eus_trivia_local", label="EusTrivia"),
    Member("mgsm_native_cot_eu", "exact_match", filter="get-answer", hub="mgsm_native_cot_eu", label="MGSM"),
    Member("mmlu_eu", "acc", label="MMLU"),
    Member("piqa_eu", "acc", hub="piqa_eu", label="PIQA"),
    Member("xstorycloze_eu", "acc", hub="xstorycloze_eu", label="XStoryCloze"),
))

BASQUEGLUE = Average("basqueglue", _("BasqueGLUE average (6 tasks)"), (
    Member("bec2016eu", "f1", offline="bec2016eu_local", label="BEC"),
    Member("bhtc_v2", "f1", offline="bhtc_v2_local", label="BHTC"),
    Member("epec_koref_bin", "acc", offline="epec_koref_bin_local", label="Coref"),
    Member("qnlieu", "acc", hub="qnlieu", offline="qnlieu_local", label="QNLI"),
    Member("vaxx_stance", "f1", offline="vaxx_stance_local", label="VaxxStance"),
    Member("wiceu", "acc", offline="wiceu_local", label="WiC"),
))

AVERAGES = (STUDY, BASQUEGLUE)


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether lm-eval can download the upstream datasets now (offline flags first, then one request)."""
    if any(os.environ.get(flag, "").lower() in ("1", "true", "yes")
           for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return False
    import httpx
    from huggingface_hub import constants

    try:
        return httpx.head(f"{constants.ENDPOINT}/api/datasets/HiTZ/EusTrivia", timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def study_tasks(hub: bool) -> tuple[list[str], list[str]]:
    """(lm-eval names to run, study tasks left out) for the study's protocol."""
    run, missing = [], []
    for member in STUDY.members:
        name = (member.hub if hub else "") or member.offline
        (run if name else missing).append(name or member.benchmark)
    return run, missing
