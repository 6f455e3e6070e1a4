"""The two backends, built so that both see the same prompt (no Django here).

In-process: lm-eval's ``hf``. Endpoint: ``endpoint_lm.ArenaCompletionsLM``. Both keep the same
window of prompt tokens (``resolve_window``), each given it in its own spelling (``model_arguments``).
"""
from __future__ import annotations

from .errors import EvaluationError
from .targets import Target, auth_header

def model_limit(target: Target) -> int:
    """The checkpoint's own context length, as lm-eval's hf backend reads it (config, then tokenizer)."""
    from lm_eval.models.utils import resolve_max_length
    from transformers import AutoConfig, AutoTokenizer

    folder = target.pretrained or target.tokenizer
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError):  # an endpoint target whose tokenizer folder holds no model config
        config = None
    tokenizer = AutoTokenizer.from_pretrained(target.tokenizer or folder) if target.tokenizer or folder else None
    return resolve_max_length(config, tokenizer)


def resolve_window(target: Target, options, endpoint_facts: dict | None = None) -> int:
    """Prompt tokens kept (left-truncated) on both backends: ``--max-length``, else the model's limit,
    capped on an endpoint so that the prompt plus the generated token fits the server's max_model_len."""
    if options.max_length is not None:
        if options.max_length < 2:
            raise EvaluationError("--max-length must be at least 2")
        window = options.max_length
    else:
        window = model_limit(target)
    server = (endpoint_facts or {}).get("max_model_len")
    if server:
        if options.max_length is not None and window + 1 > server:
            raise EvaluationError(f"--max-length {window} plus the generated token exceeds the endpoint's "
                                  f"max_model_len {server}; use --max-length {server - 1} or less")
        window = min(window, server - 1)
    return window


def model_arguments(target: Target, options, window: int) -> tuple[str, dict]:
    """(lm-eval model, its arguments). Both backends keep the last ``window`` tokens of a prompt."""
    if target.backend == "hf":
        import torch

        # HFLM keeps max_length + 1 tokens of context + continuation (the last one is only scored).
        args = {"pretrained": target.pretrained, "dtype": options.dtype, "batch_size": options.batch_size,
                "device": "cuda" if torch.cuda.is_available() else "cpu", "max_length": window - 1}
        if target.peft:
            args["peft"] = target.peft
        if target.tokenizer and target.tokenizer != target.pretrained:
            args["tokenizer"] = target.tokenizer
        return "hf", args
    args = {"model": target.served_name, "tokenizer": target.tokenizer, "base_url": f"{target.base_url}/completions",
            "num_concurrent": options.num_concurrent, "max_retries": 2, "batch_size": options.batch_size,
            "window": window, "fast_choices": options.fast_choices}
    header = auth_header(target)
    if header:
        args["header"] = header
    return "arena-completions", args


def build_lm(target: Target, options, window: int):
    name, args = model_arguments(target, options, window)
    if name == "hf":
        from lm_eval.api.registry import get_model

        return get_model("hf")(**args)
    from .endpoint_lm import ArenaCompletionsLM

    return ArenaCompletionsLM(**args)
