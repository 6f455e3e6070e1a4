"""Magpie sampling: an instructed model writes the user's turn when given only the template's pre-query prefix.

The prefix is everything the chat template emits before a user message's content (system turn if any,
then the opened user turn). It is found by rendering a conversation whose user content is a sentinel
and cutting at the sentinel, so it holds no user text by construction.
Backends: vLLM's offline engine (``vllm.LLM``) or transformers ``generate``; both get token ids, so
neither adds a second BOS to a template that already has one.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from training.chat_masks import ChatTemplateError

class BackendError(ValueError):
    pass


SENTINEL = "\ue000MAGPIE-SENTINEL\ue001"
BOS_MARKER = "\ue002MAGPIE-BOS\ue003"


@dataclass
class Generation:
    text: str
    finish_reason: str  # "stop" (ended its turn) or "length" (cut by max tokens)


def _render(tokenizer, messages, add_generation_prompt=False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _split_at_sentinel(rendered: str) -> tuple[str, str]:
    if rendered.count(SENTINEL) != 1:
        raise ChatTemplateError("the chat template does not render message content verbatim; cannot build a Magpie prefix")
    before, after = rendered.split(SENTINEL)
    return before, after


def user_turn_opener(tokenizer) -> str:
    """What the template writes to open a user turn after an earlier turn (e.g. ``<|im_start|>user\n``)."""
    first = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    before, _ = _split_at_sentinel(_render(tokenizer, first + [{"role": "user", "content": SENTINEL}]))
    history = _render(tokenizer, first)
    if not before.startswith(history):
        raise ChatTemplateError("the chat template is not prefix-stable; cannot find how it opens a user turn")
    return before[len(history):]


def magpie_prefix(tokenizer, system_prompt: str | None = None) -> str:
    """The text up to where the user's words would start: user turn opened, nothing else.

    Without ``system_prompt`` this is Magpie's bare pre-query template: BOS (when the template writes one) and
    the opened user turn, without any system block the template adds by default (Llama-3.1's date lines,
    SmolLM2's default system prompt): ``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n`` for
    Llama-3.1. With it, the system turn and then the opened user turn (to steer topic or language).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateError("Magpie needs an instructed model with a chat template; this tokenizer has none")
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    prefix, _ = _split_at_sentinel(_render(tokenizer, messages + [{"role": "user", "content": SENTINEL}]))
    if system_prompt:
        return prefix
    opener = user_turn_opener(tokenizer)
    if not prefix.endswith(opener):
        return prefix
    # Whether the template itself writes BOS first: render with a marker in its place.
    marked = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, bos_token=BOS_MARKER)
    return (tokenizer.bos_token or "" if marked.startswith(BOS_MARKER) else "") + opener


def turn_end_markers(tokenizer) -> tuple[list[str], list[str]]:
    """Strings that close a user turn and an assistant turn (generation stops at them)."""
    _, after_user = _split_at_sentinel(_render(tokenizer, [{"role": "user", "content": SENTINEL}]))
    _, after_assistant = _split_at_sentinel(_render(tokenizer, [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": SENTINEL}]))
    eos = [tokenizer.eos_token] if tokenizer.eos_token else []

    def first_marker(text: str) -> list[str]:
        marker = text.strip().split()[0] if text.strip() else ""
        return [marker] if marker else []

    user_stop = first_marker(after_user) + eos
    if not first_marker(after_user):
        raise ChatTemplateError("the chat template closes a user turn with nothing; the end of an instruction cannot be found")
    return list(dict.fromkeys(user_stop)), list(dict.fromkeys(first_marker(after_assistant) + eos))


def response_prompt(tokenizer, instruction: str, system_prompt: str | None = None) -> str:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return _render(tokenizer, messages + [{"role": "user", "content": instruction}], add_generation_prompt=True)


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop if s and s in text]
    if cuts:
        return text[: min(cuts)], True
    return text, False


# --- backends ----------------------------------------------------------------------------------------

def choose_backend(name: str) -> str:
    if name == "auto":
        return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"
    if name == "vllm" and importlib.util.find_spec("vllm") is None:
        raise BackendError("--backend vllm: vllm is not installed")
    if name not in {"vllm", "transformers"}:
        raise BackendError(f"unknown backend {name!r}; use auto, vllm or transformers")
    return name


class TransformersBackend:
    def __init__(self, model_path: str, *, seed: int, batch_size: int = 16, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
                       "float16": torch.float16}[dtype]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.seed = seed

    def generate(self, prompts: list[str], *, temperature: float, top_p: float, max_new_tokens: int,
                 stop: list[str], progress=None) -> list[Generation]:
        import torch
        from transformers import set_seed

        set_seed(self.seed)
        stop_ids = [i for s in stop if (i := self.tokenizer.convert_tokens_to_ids(s)) is not None
                    and i != self.tokenizer.unk_token_id]
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
            with torch.no_grad():
                out = self.model.generate(
                    **enc, max_new_tokens=max_new_tokens, eos_token_id=stop_ids or None,
                    pad_token_id=self.tokenizer.pad_token_id, stop_strings=[s for s in stop if s],
                    tokenizer=self.tokenizer, **sampling,
                )
            for row in out[:, enc["input_ids"].shape[1]:]:
                text = self.tokenizer.decode(row, skip_special_tokens=False)
                text = text.replace(self.tokenizer.pad_token, "") if self.tokenizer.pad_token not in stop else text
                text, stopped = cut_at_stop(text, stop)
                results.append(Generation(text, "stop" if stopped else "length"))
            if progress:
                progress.update(len(batch))
        return results


class VLLMBackend:
    def __init__(self, model_path: str, *, seed: int, dtype: str = "auto", max_model_len: int = 4096):
        from transformers import AutoTokenizer
        from vllm import LLM

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.llm = LLM(model=model_path, seed=seed, dtype=dtype, max_model_len=max_model_len)
        self.seed = seed

    def generate(self, prompts: list[str], *, temperature: float, top_p: float, max_new_tokens: int,
                 stop: list[str], progress=None) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, stop=stop,
                                seed=self.seed)
        token_prompts = [{"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
        outputs = self.llm.generate(token_prompts, params, use_tqdm=progress is not None)
        results = [Generation(o.outputs[0].text, "stop" if o.outputs[0].finish_reason == "stop" else "length")
                   for o in outputs]
        if progress:
            progress.update(len(prompts))
        return results


def make_backend(name: str, model_path: str, *, seed: int, batch_size: int = 16, dtype: str = "auto"):
    chosen = choose_backend(name)
    if chosen == "vllm":
        return VLLMBackend(model_path, seed=seed, dtype=dtype)
    return TransformersBackend(model_path, seed=seed, batch_size=batch_size, dtype=dtype)
