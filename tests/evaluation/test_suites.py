"""The offline task YAMLs: item counts equal the data files, bad input fails clearly."""
import json
import shutil

import pytest

from evaluation import suites
from evaluation.errors import EvaluationError
from evaluation.runner import task_manager_for


def _lines(path):
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _leaves(task_dict):
    for value in task_dict.values():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield value


def test_expected_counts_are_the_data_file_line_counts(shared_data):
    bench_dir = shared_data / "basque" / "benchmarks"
    counts = suites.expected_item_counts(bench_dir)
    for bench in suites.BENCHMARKS:
        assert counts[bench.local_name] == _lines(bench_dir / bench.data_file), bench.name
    exams = [name for name in counts if name.startswith("eus_exams_eu_") and name != suites.EXAMS_GROUP]
    assert len(exams) == 28  # the README: 28 exams (osakidetza7e is missing from the pack)
    assert sum(counts[name] for name in exams) == counts[suites.EXAMS_GROUP] == 13561


def test_lm_eval_sees_every_item_of_every_offline_task(shared_data):
    from lm_eval.tasks import get_task_dict

    counts = suites.expected_item_counts(shared_data / "basque" / "benchmarks")
    manager = task_manager_for(suites.SUITES["basque"])
    leaves = list(_leaves(get_task_dict(suites.SUITES["basque"], manager)))
    assert len(leaves) == 7 + 28
    seen = {leaf.config.task: len(leaf.eval_docs) for leaf in leaves}
    assert seen == {name: n for name, n in counts.items() if name != suites.EXAMS_GROUP}


def test_prompts_and_labels_follow_the_upstream_tasks():
    from lm_eval.tasks import get_task_dict

    manager = task_manager_for(["qnlieu_local", "eus_trivia_local", "wiceu_local"])
    tasks = {t.config.task: t for t in _leaves(get_task_dict(["qnlieu_local", "eus_trivia_local", "wiceu_local"], manager))}
    qnli = tasks["qnlieu_local"]
    doc = qnli.eval_docs[0]  # label "not_entailment" -> label_id 1 -> "ez"
    assert doc["label"] == "not_entailment"
    assert qnli.doc_to_choice(doc)[qnli.doc_to_target(doc)] == "ez"
    trivia = tasks["eus_trivia_local"]
    text = trivia.doc_to_text(trivia.eval_docs[1])
    assert text.startswith("Galdera: Zein da 69 zenbakiaren hurrengoa?\nA: 96\n") and text.endswith("\nErantzuna:")
    wic = tasks["wiceu_local"]
    assert "&quot;" not in json.dumps([wic.doc_to_text(d) for d in wic.eval_docs], ensure_ascii=False)


def test_materialized_yamls_use_absolute_paths_to_existing_files(shared_data):
    folder = suites.materialize(shared_data / "basque" / "benchmarks")
    yamls = list(folder.glob("*.yaml"))
    assert len(yamls) == 7 + 28 + 1
    for path in yamls:
        assert "@BENCHMARKS@" not in path.read_text()
    assert (folder / "eus_exams_eu" / "osakidetza2e.jsonl").exists()


def test_missing_data_file_stops_with_its_path(tmp_path, shared_data, monkeypatch):
    copy = tmp_path / "data" / "basque" / "benchmarks"
    shutil.copytree(shared_data / "basque" / "benchmarks", copy)
    (copy / "basqueglue_wic.jsonl").unlink()
    monkeypatch.setenv("ARENA_SHARED_DATA", str(tmp_path / "data"))
    with pytest.raises(EvaluationError, match=r"data file missing: .*basqueglue_wic\.jsonl"):
        task_manager_for(["wiceu_local"])


def test_unknown_task_is_named():
    with pytest.raises(EvaluationError, match="unknown task.*eus_nonsense_local"):
        task_manager_for(["eus_trivia_local", "eus_nonsense_local"])


def test_suite_and_task_resolution():
    assert suites.resolve_tasks("basque", None)[0] == "eus_trivia_local"
    assert suites.resolve_tasks("basque", ["eus_trivia", "qnlieu_local"]) == ["eus_trivia_local", "qnlieu_local"]
    assert suites.resolve_tasks("basque-hub", ["eus_trivia"]) == ["eus_trivia"]  # upstream names unchanged
    assert suites.canonical_name("eus_exams_eu_osakidetza1e_local") == "eus_exams_eu_osakidetza1e"
    with pytest.raises(EvaluationError, match="unknown suite"):
        suites.resolve_tasks("klingon", None)


def test_run_refuses_results_whose_item_count_differs_from_the_data_file():
    from evaluation.runner import check_item_counts

    counts = suites.expected_item_counts()
    check_item_counts({"n-samples": {"qnlieu_local": {"original": counts["qnlieu_local"], "effective": 5}}})
    with pytest.raises(EvaluationError, match="qnlieu_local: lm-eval loaded 237 items but the data file has 238"):
        check_item_counts({"n-samples": {"qnlieu_local": {"original": 237, "effective": 5}}})
