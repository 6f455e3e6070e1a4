"""The suites as lm-eval groups: the benchmarks table read from YAML, data files, the materialized copy."""
import json

import pytest

from evaluation import suites
from evaluation.errors import EvaluationError
from evaluation.runner import task_manager_for

# The headline benchmarks as docs/evaluation.md and the study's table list them.
TABLE = [
    ("eus_trivia", "eus_trivia_local", "acc", "EusTrivia"),
    ("eus_exams_eu", "eus_exams_eu_local", "acc", "EusExams"),
    ("bec2016eu", "bec2016eu_local", "f1", "BEC"),
    ("bhtc_v2", "bhtc_v2_local", "f1", "BHTC"),
    ("epec_koref_bin", "epec_koref_bin_local", "acc", "Coref"),
    ("qnlieu", "qnlieu_local", "acc", "QNLI"),
    ("vaxx_stance", "vaxx_stance_local", "f1", "VaxxStance"),
    ("wiceu", "wiceu_local", "acc", "WiC"),
]
# Shipped files: items per benchmark (data/README.md), 28 exams.
SHIPPED = {"eus_trivia_local": 1715, "eus_exams_eu_local": 13561, "bec2016eu_local": 1302, "bhtc_v2_local": 1854,
           "epec_koref_bin_local": 587, "qnlieu_local": 238, "vaxx_stance_local": 312, "wiceu_local": 1400}


def _lines(path):
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_the_benchmarks_table_is_read_from_the_group_yaml():
    assert [(b.name, b.task, b.metric, b.label) for b in suites.benchmarks()] == TABLE
    assert suites.SUITES == {"basque": "basque_local", "basque-hub": "basque_hub", "basque-study": ""}


def test_suite_and_task_resolution():
    assert suites.resolve_tasks("basque", None) == ["basque_local"]
    assert suites.resolve_tasks("basque-hub", None) == ["basque_hub"]
    assert suites.resolve_tasks("basque", ["eus_trivia", " qnlieu_local", ""]) == ["eus_trivia_local", "qnlieu_local"]
    assert suites.resolve_tasks("basque-hub", ["eus_trivia"]) == ["eus_trivia"]  # upstream names unchanged
    assert suites.canonical_name("eus_exams_eu_osakidetza1e_local") == "eus_exams_eu_osakidetza1e"
    assert suites.canonical_name("eus_exams_eu_hub") == "eus_exams_eu"
    with pytest.raises(EvaluationError, match="unknown suite"):
        suites.resolve_tasks("klingon", None)
    with pytest.raises(EvaluationError, match="--tasks is empty"):
        suites.resolve_tasks("basque", [" ", ""])


def test_expected_counts_are_what_the_pack_holds(small_pack):
    counts = suites.expected_item_counts()
    exams = {json.loads(line)["exam"] for line in (small_pack / "eus_exams_eu.jsonl").read_text().splitlines()}
    assert len(exams) == 3
    assert counts == {
        "eus_trivia_local": 4, "bec2016eu_local": 4, "bhtc_v2_local": 4, "epec_koref_bin_local": 4,
        "qnlieu_local": 4, "vaxx_stance_local": 4, "wiceu_local": 5,
        **{suites.exam_task_name(exam): 2 for exam in exams}, "eus_exams_eu_local": 6,
    }


def test_materialized_folder_has_absolute_paths_and_one_task_per_exam(small_pack):
    folder = suites.materialize()
    assert suites.materialize() == folder  # reused while templates and data are unchanged
    for path in list(folder.glob("*.yaml")) + [folder / suites.EXAMS_BASE]:
        assert suites.PLACEHOLDER not in path.read_text(), path.name
    assert f'"{small_pack.resolve()}/eus_trivia.jsonl"' in (folder / "eus_trivia_local.yaml").read_text()
    exam_tasks = sorted(p.stem for p in folder.glob("eus_exams_eu_*_local.yaml"))
    assert exam_tasks == sorted(name for name in suites.expected_item_counts() if name.startswith("eus_exams_eu_")
                                and name != suites.EXAMS_GROUP)
    for name in exam_tasks:
        exam = name.removeprefix("eus_exams_eu_").removesuffix("_local")
        assert _lines(folder / "eus_exams_eu" / f"{exam}.jsonl") == 2


def test_lm_eval_loads_the_suite_as_a_group_of_the_benchmarks(small_pack):
    manager = task_manager_for(["basque_local"])
    loaded = manager.load(["basque_local"])
    suite, exams = loaded["groups"]["basque_local"], loaded["groups"]["eus_exams_eu_local"]
    assert suite.child_names == [b.task for b in suites.benchmarks()]
    assert not suite.has_aggregation  # the Basque average mixes acc and F1: computed by the page
    assert [(m.metric, m.weight_by_size) for m in exams.aggregate_metric_list] == [("acc", True), ("acc_norm", True)]
    seen = {name: len(task.eval_docs) for name, task in loaded["tasks"].items()}
    counts = suites.expected_item_counts()
    assert seen == {name: n for name, n in counts.items() if name != suites.EXAMS_GROUP}


def test_lm_eval_sees_every_item_of_the_shipped_files(data_pack):
    """The one test on the full data pack: every item of every file reaches lm-eval."""
    counts = suites.expected_item_counts(data_pack / "basque" / "benchmarks")
    exams = [name for name in counts if name.startswith("eus_exams_eu_") and name != suites.EXAMS_GROUP]
    assert len(exams) == 28  # osakidetza7e is missing from the pack
    assert {name: counts[name] for name in SHIPPED} == SHIPPED
    loaded = task_manager_for(["basque_local"]).load(["basque_local"])
    assert len(loaded["tasks"]) == 7 + 28
    assert {name: len(task.eval_docs) for name, task in loaded["tasks"].items()} == {
        name: n for name, n in counts.items() if name != suites.EXAMS_GROUP}


def test_missing_data_file_stops_with_its_path(broken_pack):
    broken_pack("basqueglue_wic.jsonl")
    with pytest.raises(EvaluationError, match=r"data file missing: .*basqueglue_wic\.jsonl"):
        suites.materialize()
    with pytest.raises(EvaluationError, match=r"data file missing: .*basqueglue_wic\.jsonl"):
        suites.expected_item_counts()


def test_the_study_suite_uses_hub_names_when_reachable_else_the_offline_copies():
    from evaluation import study

    assert suites.resolve_tasks("basque-study", None, hub=False) == ["eus_exams_eu_local", "eus_trivia_local"]
    hub, missing = study.study_tasks(hub=True)
    assert hub == ["arc_eu_challenge", "arc_eu_easy", "belebele_eus_Latn", "eus_exams_eu_hub", "eus_proficiency",
                   "eus_reading", "eus_trivia", "mgsm_native_cot_eu", "piqa_eu", "xstorycloze_eu"]
    assert missing == ["bertaqa_eu_global", "bertaqa_eu_local", "bl2mp", "mmlu_eu"]  # not lm-eval 0.4.13 tasks
    assert len(study.STUDY.members) == 14 and not set(study.STUDY.names) & set(study.BASQUEGLUE.names)


def test_the_hub_suite_is_basque_bench_with_an_eus_exams_score_and_runs_each_task_once(small_pack):
    """Upstream eus_exams_eu is a tag, so basque_bench gave no EusExams score; basque_hub has a group for it."""
    from evaluation.runner import plan, task_manager_for

    manager = task_manager_for(["basque_hub", "basque_bench"])
    upstream = manager.task_index["basque_bench"].cfg["task"]
    ours = manager.task_index["basque_hub"].cfg["task"]
    assert ours == [name.replace("eus_exams_eu", "eus_exams_eu_hub") if name == "eus_exams_eu" else name
                    for name in upstream]
    exams = manager.task_index["eus_exams_eu_hub"].cfg
    assert exams["task"] == ["eus_exams_eu"] and exams["aggregate_metric_list"][0]["metric"] == "acc"
    steps = plan(["basque_hub", "eus_trivia"], manager)
    assert "eus_exams_eu_hub" in steps and "eus_exams_eu" not in steps and len(steps) == len(set(steps))
