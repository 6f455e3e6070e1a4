"""Both backends see the same prompt: one window of prompt tokens, spelled for each (evaluation/backends.py)."""
import pytest

from evaluation.backends import model_arguments, resolve_window
from evaluation.errors import EvaluationError
from evaluation.runner import RunOptions
from evaluation.targets import Target, resolve_target

TASK = "eus_trivia_local"


def test_both_backends_keep_the_same_window_of_prompt_tokens(tiny_llama_dir):
    """Admin and Celery runs passed no max_length: the endpoint cut at lm-eval's 2,048, in-process at
    the model's own limit. Now one window is resolved and each backend is given its own spelling of it."""
    hf = resolve_target(str(tiny_llama_dir))
    endpoint = Target(label="m", backend="endpoint", tokenizer=str(tiny_llama_dir), base_url="http://x/v1",
                      served_name="m")
    options = RunOptions(tasks=[TASK])
    assert resolve_window(hf, options) == 2048  # the checkpoint's max_position_embeddings
    assert resolve_window(endpoint, options, {"max_model_len": 1024}) == 1023  # + the generated token = 1024
    assert resolve_window(endpoint, RunOptions(tasks=[TASK], max_length=500), {"max_model_len": 1024}) == 500
    with pytest.raises(EvaluationError, match="exceeds the endpoint's max_model_len 1024"):
        resolve_window(endpoint, RunOptions(tasks=[TASK], max_length=1024), {"max_model_len": 1024})
    # HFLM keeps max_length + 1 tokens of context + continuation; TemplateAPI keeps max_length - 1.
    assert model_arguments(hf, options, 700)[1]["max_length"] + 1 == 700
    name, args = model_arguments(endpoint, options, 700)
    assert name == "arena-completions" and args["window"] == 700
