"""Tiny random Llama checkpoints built in-process (never downloaded) for tests.

head_dim is 64 because vLLM's CPU attention refuses smaller heads. The tokenizer is a byte-level
BPE trained on a little Basque text, with a chat template so chat completions work.
"""
from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

BASQUE_SAMPLE = [
    "Kaixo, zer moduz zaude gaur?",
    "Euskara Euskal Herriko hizkuntza da, eta milaka lagunek hitz egiten dute.",
    "Donostia, Bilbo eta Gasteiz hiri handiak dira.",
    "Gaur eguraldi ona dago eta mendira joango gara.",
    "Liburu hau oso interesgarria da, irakurri behar duzu.",
    "Zein da Euskal Herriko mendirik altuena?",
    "Ikasleek azterketa gainditu dute eta pozik daude.",
    "Hello, this is a little English text too, for mixed prompts.",
]


def corpus_lines(extra: list[str] | None = None) -> list[str]:
    """Sample text for the tokenizer: the built-in lines plus 2,000 sentences of the data pack's corpus."""
    from config.datapack import corpus_dir

    lines = list(BASQUE_SAMPLE) + list(extra or [])
    corpus = corpus_dir() / "ud_basque_bdt.jsonl"
    if corpus.exists():
        with corpus.open(encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                if index >= 2000:
                    break
                lines.append(json.loads(line)["text"])
    return lines


def build_tokenizer(out_dir: Path, vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus_lines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>",
        unk_token="<|endoftext|>", pad_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_llama(out_dir: Path, *, seed: int = 0, hidden_size: int = 128, layers: int = 2) -> Path:
    """Write a random Llama (head_dim 64) plus tokenizer to ``out_dir`` and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=hidden_size // 64,
        num_key_value_heads=hidden_size // 64,
        head_dim=64,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    model.generation_config.save_pretrained(out_dir)
    return out_dir
