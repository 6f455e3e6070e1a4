"""Shared builders for the serving tests (and the benchmarks): checkpoints real and fake, and a fake
OpenAI-compatible server that lists its models."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from models_serving.vllm_process import VLLMServerSpec, free_port
from tests.support.fake_openai import FakeOpenAIServer


def listing_server(*names: str) -> FakeOpenAIServer:
    """The arena's fake OpenAI server plus ``GET /v1/models`` listing ``server.listed`` (editable), and a key
    check when ``server.required_key`` is set. Started; the caller stops it."""
    server = FakeOpenAIServer(free_port())
    server.listed = set(names)
    server.required_key = None

    @server.app.get("/v1/models")
    async def models(request: Request):
        if server.required_key and request.headers.get("authorization") != f"Bearer {server.required_key}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return {"object": "list", "data": [{"id": name, "object": "model"} for name in sorted(server.listed)]}

    server.start()
    return server


def build_long_talker(tiny_llama_dir: Path, out_dir: Path) -> Path:
    """A copy of the tiny Llama whose special tokens (EOS included) can never be sampled.

    Every answer then runs to max_tokens, so a stream is reliably still in flight when a test kills
    the server, and benchmark answers all have the same length. The other output rows are scaled up
    so the zeroed rows' logit (0) sits far below the best token's.
    """
    from safetensors.torch import load_file, save_file

    out_dir = Path(out_dir)
    shutil.copytree(tiny_llama_dir, out_dir, dirs_exist_ok=True)
    weights_path = out_dir / "model.safetensors"
    weights = load_file(weights_path)
    head = weights["lm_head.weight"].clone() * 40
    tokenizer = json.loads((out_dir / "tokenizer.json").read_text())
    special = [token["id"] for token in tokenizer["added_tokens"] if token.get("special")]
    assert special, "the tiny tokenizer should have special tokens"
    head[special] = 0
    weights["lm_head.weight"] = head.contiguous()
    save_file(weights, weights_path, metadata={"format": "pt"})
    return out_dir


def build_lora_adapter(base_dir: Path, out_dir: Path, seed: int, rank: int = 8) -> Path:
    """A random LoRA adapter on q_proj/v_proj (lora_B randomised so two adapters answer differently)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"],
                                                  task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    peft_model.save_pretrained(out_dir)
    return Path(out_dir)


def fake_full_checkpoint(folder: Path) -> Path:
    """Just enough files for the admin's folder checks (nothing is served from it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"\0")
    return folder


def fake_adapter(folder: Path, base: str, rank: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": rank, "base_model_name_or_path": base, "target_modules": ["q_proj"]}))
    (folder / "adapter_model.safetensors").write_bytes(b"\0")
    return folder


def timed_answers(model_a, model_b):
    """A battle whose answers have known timings. In the last hour A answered three times (TTFT 100, 300
    and 200 ms; 20 tokens/s after the first token; the third ended in an error) and B once (20 tokens/s);
    A's answer two hours ago is outside the live window."""
    from datetime import timedelta

    from arena.models import Battle, Message
    from tests.arena.conftest import make_participant

    battle = Battle.objects.create(participant=make_participant(), model_a=model_a, model_b=model_b)
    for turn, (ttft, duration, tokens, error) in enumerate([(100, 1100, 21, ""), (300, 2300, 41, ""),
                                                             (200, 200, 0, "server died")]):
        Message.objects.create(battle=battle, turn=turn, role="assistant", side="A", ttft_ms=ttft,
                               duration_ms=duration, token_count=tokens, error=error)
    old = Message.objects.create(battle=battle, turn=5, role="assistant", side="A", ttft_ms=9999, error="old")
    Message.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(hours=2))
    Message.objects.create(battle=battle, turn=0, role="assistant", side="B", ttft_ms=50, duration_ms=550,
                           token_count=11)
    return battle


class ShortLivedSpec(VLLMServerSpec):
    """A stand-in process for a supervised vLLM server: it exits after ``seconds`` (a crash), on its port."""

    seconds: float = 0.2

    def command(self) -> list[str]:
        return [sys.executable, "-c", f"import time; time.sleep({self.seconds})"]
