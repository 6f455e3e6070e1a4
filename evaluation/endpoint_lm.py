"""lm-eval's ``local-completions`` client, fitted to the arena's vLLM endpoints (no Django here).

Three differences from the stock client, each keeping the endpoint's numbers equal to in-process ``hf``:

- **Token ids, BOS as in-process.** Prompts are tokenized here with HFLM's rule (the tokenizer's own
  special tokens, so BOS for Llama 3, unless the text already starts with BOS, as a rendered chat
  template does) and sent as ids, which vLLM does not re-tokenize. The stock client counts the context
  without BOS while vLLM adds one to text prompts, so each continuation also scored the last context
  token (issue 15: a constant -7 per item on a BOS-adding tokenizer).
- **One window.** ``window`` is the number of prompt tokens kept (left-truncated), the same number the
  in-process backend is given (``runner.model_arguments``); the generated token makes ``window + 1``,
  which must fit the server's ``max_model_len``. ``stats["truncated"]`` counts the requests cut.
- **Choices scored by prefix, without echo.** lm-eval sends one echo request per choice and reads
  prompt log-probabilities, which vLLM computes over the whole prompt without its prefix cache. Here
  every continuation token is asked at its prefix (``logprob_token_ids``: those tokens'
  log-probabilities at the next position). Choices share prefixes: all single-token choices of an
  item are one request, and a multi-token label adds one short request per further token, whose
  context the server's prefix cache already holds. Long continuations (rolling log-likelihoods)
  keep lm-eval's one echo request.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lm_eval.models.openai_completions import LocalCompletionsAPI

from .errors import EvaluationError

MAX_CHOICE_TOKENS = 128  # vLLM's MAX_LOGPROB_TOKEN_IDS: a prefix with more next tokens is asked in chunks
MAX_FAST_CONTINUATION = 32  # tokens; longer continuations (rolling log-likelihoods) keep one echo request


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _token_id(key: str) -> int:
    """vLLM names tokens "token_id:123" with ``return_tokens_as_token_ids`` (unambiguous, unlike text)."""
    return int(key.rsplit(":", 1)[1])


class ArenaCompletionsLM(LocalCompletionsAPI):
    def __init__(self, *, window: int, fast_choices: bool = True, **kwargs) -> None:
        if window < 2:
            raise EvaluationError(f"context window of {window} tokens is too small")
        # TemplateAPI keeps max_length - 1 prompt tokens (one is left for the generated token).
        super().__init__(max_length=window + 1, tokenized_requests=True, tokenizer_backend="huggingface", **kwargs)
        self.add_bos_token = None  # HFLM's default: the tokenizer decides (see tok_encode)
        self.fast_choices = fast_choices
        self.stats = {"fast_requests": 0, "fast_choices": 0, "echo_choices": 0, "truncated": 0}

    @property
    def window(self) -> int:
        return self.max_length

    # -- tokenization: HFLM's rule ----------------------------------------------------------------

    def _encode(self, text: str, add_special_tokens: bool | None, left_truncate_len: int | None) -> list[int]:
        bos = self.tokenizer.bos_token
        kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        if add_special_tokens is None and bos and text.startswith(bos):
            kwargs["add_special_tokens"] = False  # a rendered chat template already holds BOS
        ids = self.tokenizer(text, return_attention_mask=False, **kwargs).input_ids
        return ids[-left_truncate_len:] if left_truncate_len else ids

    def tok_encode(self, string, left_truncate_len=None, add_special_tokens=None, **kwargs):
        if isinstance(string, str):
            return self._encode(string, add_special_tokens, left_truncate_len)
        return [self._encode(text, add_special_tokens, left_truncate_len) for text in string]

    # -- log-likelihoods ---------------------------------------------------------------------------

    def _create_payload(self, messages, generate=False, gen_kwargs=None, seed=1234, eos=None, choice_ids=None,
                        **kwargs) -> dict:
        if choice_ids is None:
            return super()._create_payload(messages, generate=generate, gen_kwargs=gen_kwargs, seed=seed, eos=eos,
                                           **kwargs)
        # No echo: the prompt's own log-probabilities are not needed, so vLLM may reuse its prefix cache.
        return {"model": self.model, "prompt": messages, "max_tokens": 1, "temperature": 0, "seed": seed,
                "logprobs": 1, "logprob_token_ids": choice_ids, "return_tokens_as_token_ids": True}

    def _loglikelihood_tokens(self, requests, **kwargs):
        limit = self.max_length  # lm-eval's echo keeps this many tokens of context + continuation
        results: list = [None] * len(requests)
        # Each continuation token is scored at a prefix of the (left-truncated) sequence, the same prefix
        # the echo request's one forward pass would attend to. Prefixes shared by several choices (the
        # context itself, first tokens of multi-token labels) become one request asking for all their
        # next tokens; vLLM serves the shared part from its prefix cache.
        interned: dict[tuple[int, ...], tuple[int, ...]] = {}
        plans: dict[int, list[tuple]] = {}
        echo: list[int] = []
        for index, (_key, context, continuation) in enumerate(requests):
            self.stats["truncated"] += len(context) + len(continuation) > limit
            sequence = (context + continuation)[-limit:]
            start = len(sequence) - len(continuation)
            if not self.fast_choices or start < 1 or len(continuation) > MAX_FAST_CONTINUATION:
                echo.append(index)  # no context left, or a long (rolling) continuation: one echo request is cheaper
                continue
            stem = tuple(sequence[:start])
            stem = interned.setdefault(stem, stem)
            plans[index] = [(stem, tuple(continuation[:k])) for k in range(len(continuation))]
        if echo:
            for index, answer in zip(echo, super()._loglikelihood_tokens([requests[i] for i in echo], **kwargs)):
                results[index] = answer
        self.stats["echo_choices"] += len(echo)
        scored = self._score_prefixes(plans, requests)
        for index, prefixes in plans.items():
            key, _context, continuation = requests[index]
            logprob, greedy = 0.0, True
            for prefix, token in zip(prefixes, continuation):
                offered, top = scored[prefix]
                logprob += offered[token]
                greedy = greedy and token == top
            results[index] = (logprob, greedy)
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, results[index])
        self.stats["fast_choices"] += len(plans)
        return results

    def _score_prefixes(self, plans: dict[int, list[tuple]], requests) -> dict[tuple, tuple[dict[int, float], int]]:
        """{prefix: ({next token: log-probability}, greedy next token)} for every prefix the plans use,
        shallowest first, so deeper prefixes find the shared part already in the server's cache."""
        wanted: dict[tuple, set[int]] = {}
        for index, prefixes in plans.items():
            for prefix, token in zip(prefixes, requests[index][2]):
                wanted.setdefault(prefix, set()).add(token)
        scored: dict[tuple, tuple[dict[int, float], int]] = {}
        with ThreadPoolExecutor(max_workers=max(1, self._concurrent)) as pool:
            for depth in sorted({len(prefix[1]) for prefix in wanted}):
                calls = [(prefix, chunk) for prefix, tokens in wanted.items() if len(prefix[1]) == depth
                         for chunk in _chunks(sorted(tokens), MAX_CHOICE_TOKENS)]
                answers = pool.map(lambda call: self._choice_logprobs(call[0][0] + call[0][1], call[1]), calls)
                for (prefix, _chunk), (offered, greedy) in zip(calls, answers):
                    merged = scored.setdefault(prefix, ({}, greedy))[0]
                    merged.update(offered)
                self.stats["fast_requests"] += len(calls)
        return scored

    def _choice_logprobs(self, context: tuple[int, ...], choices: list[int]) -> tuple[dict[int, float], int]:
        """{choice token: log-probability after ``context``} and the greedy next token, in one request."""
        from tenacity import retry, stop_after_attempt, wait_exponential

        call = retry(stop=stop_after_attempt(self.max_retries), wait=wait_exponential(multiplier=0.5, min=1, max=10),
                     reraise=True)(self.model_call)
        output = call(messages=[list(context)], generate=False, choice_ids=choices)
        try:
            logprobs = output["choices"][0]["logprobs"]
            offered = {_token_id(key): float(value) for key, value in logprobs["top_logprobs"][0].items()}
            greedy = _token_id(logprobs["tokens"][0])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EvaluationError(f"the endpoint did not return choice log-probabilities ({exc!r}); "
                                  "it needs vLLM's logprob_token_ids (or run with --echo-only)") from exc
        missing = [token for token in choices if token not in offered]
        if missing:
            raise EvaluationError(f"the endpoint returned no log-probability for token(s) {missing}")
        return offered, greedy
