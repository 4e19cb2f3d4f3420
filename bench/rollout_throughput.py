"""Batched rollouts against one-env-at-a-time generation, same model: trajectories/s, tokens/s, the ratio; and our
sampler against the simplest KV-cached sampling loop on the same prompts (the limit to measure against).

    python bench/rollout_throughput.py [--env archer/TwentyQuestionsSubset-v0] [--episodes 64] [--num-envs 32]
    python -m cProfile -s tottime bench/rollout_throughput.py --episodes 64 | head -40     # where the time goes

Uses the embedded SFT actor (built and cached on first use), one torch thread (more threads than free cores make
this small model many times slower). Every figure is CPU seconds of this one-threaded process (``process_time``), so
that ratios hold on a machine shared with other work; the wall-clock rates beside them are what a quiet machine
would see only when nothing else runs.

- batched vs one at a time: 64 episodes (env seeds 0..63) played by ``agents.rollout.collect`` with 32 envs stepped
  together (one sampling call per turn over every running env) and with one env, decoding greedily, so both play the
  same episodes turn for turn (the sampler is batch-invariant; the bench checks the counts agree); then sampling at
  temperature 1, where the draws fall differently in the two (one generator serves the batch), so tokens per second
  are the fairer figure there.
- the limit: every sampling call of the batched rollout replayed twice on the same observations, by
  ``Actor.sample`` (prompt building, length-sorted runs, reuse of the last call's keys and values, log-probs,
  decoding) and by a bare loop (left-pad the token ids, one forward, then one forward per new token with the KV cache,
  multinomial on the softmax, as many new tokens as our sampler generated in that call, no stop test). The ratio
  ours / bare: above 1 is overhead of ours, below 1 is work ours avoids (the bare loop prefills each whole prompt).

Prints figures and the peak resident memory of this process; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from archer_gym import make_vec  # noqa: E402
from agents.models import ModelConfig  # noqa: E402
from agents.policy import left_pad, output_cache, positions_from_mask  # noqa: E402
from agents.rollout import EpisodeSpec, collect  # noqa: E402
from agents.sft import SFTConfig, load_sft_actor, run_sft  # noqa: E402


def rollout(actor, env_id: str, episodes: int, num_envs: int, calls: list | None = None,
            greedy: bool = False) -> dict[str, float]:
    """``episodes`` episodes (seeds 0..) with ``num_envs`` envs; ``calls`` collects each sampling call's
    observations and the tokens it generated."""
    gen = torch.Generator().manual_seed(0)
    venv = make_vec(env_id, num_envs)
    actor.forget_prefixes()

    def act(observations):
        out = actor.sample(observations, generator=gen, greedy=greedy)
        if calls is not None:
            calls.append((observations, max(len(a) for a in out.action_ids)))
        return out

    cpu, wall = time.process_time(), time.perf_counter()
    res = collect(venv, act, [EpisodeSpec(seed=i) for i in range(episodes)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu": cpu, "wall": wall, "trajectories": res.counts.trajectories, "tokens": res.counts.tokens,
            "steps": res.counts.env_steps}


def bare_loop(model, prompt_ids: list[list[int]], new_tokens: int, pad_id: int, gen: torch.Generator,
              cache_kwarg: str = "cache") -> None:
    """The simplest KV-cached sampling of ``new_tokens`` tokens after left-padded prompts (``cache_kwarg``: the
    model's name for the cache argument, ``past_key_values`` before transformers 5)."""
    ids, mask = left_pad(prompt_ids, pad_id, torch.device("cpu"))
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=True)
    for _ in range(new_tokens - 1):
        token = torch.multinomial(out.logits[:, -1].softmax(-1), 1, generator=gen)
        mask = torch.cat([mask, torch.ones_like(token)], 1)
        out = model(input_ids=token, attention_mask=mask, position_ids=positions_from_mask(mask)[:, -1:],
                    **{cache_kwarg: output_cache(out)}, use_cache=True)
    torch.multinomial(out.logits[:, -1].softmax(-1), 1, generator=gen)


def replay(actor, calls) -> tuple[float, float]:
    """CPU seconds of ``Actor.sample`` and of :func:`bare_loop` over the recorded calls, in their order."""
    actor.forget_prefixes()
    gen = torch.Generator().manual_seed(1)
    t = time.process_time()
    for observations, _ in calls:
        actor.sample(observations, generator=gen)
    ours = time.process_time() - t
    prompts = [actor.build_prompt_ids(obs) for obs, _ in calls]  # tokenizing is the sampler's work, not the loop's
    actor.model.eval()
    t = time.process_time()
    with torch.inference_mode():
        for ids, (_, n) in zip(prompts, calls):
            bare_loop(actor.model, ids, n, actor.tokenizer.pad_token_id, gen, actor._cache_kwarg)
    return ours, time.process_time() - t


def measure(env_id: str = "archer/TwentyQuestionsSubset-v0", episodes: int = 64, num_envs: int = 32) -> dict[str, float]:
    torch.set_num_threads(1)
    model = ModelConfig()
    actor = load_sft_actor(run_sft(SFTConfig(env_id=env_id, model=model), progress=False), model)
    rollout(actor, env_id, 8, num_envs)  # warm-up: allocator, first-call costs
    greedy_b = rollout(actor, env_id, episodes, num_envs, greedy=True)
    greedy_1 = rollout(actor, env_id, episodes, 1, greedy=True)
    if (greedy_b["steps"], greedy_b["tokens"]) != (greedy_1["steps"], greedy_1["tokens"]):
        raise SystemExit(f"error: greedy episodes differ batched and one at a time: {greedy_b} vs {greedy_1}")
    calls: list = []
    batched = rollout(actor, env_id, episodes, num_envs, calls)
    single = rollout(actor, env_id, episodes, 1)
    ours, bare = replay(actor, calls)
    return {
        f"greedy, batched ({num_envs} envs): trajectories per CPU s": greedy_b["trajectories"] / greedy_b["cpu"],
        "greedy, one at a time: trajectories per CPU s": greedy_1["trajectories"] / greedy_1["cpu"],
        "greedy speed-up, same episodes (target >= 5)": greedy_1["cpu"] / greedy_b["cpu"],
        f"sampled, batched ({num_envs} envs): trajectories per CPU s": batched["trajectories"] / batched["cpu"],
        f"sampled, batched ({num_envs} envs): generated tokens per CPU s": batched["tokens"] / batched["cpu"],
        f"sampled, batched ({num_envs} envs): trajectories per wall s": batched["trajectories"] / batched["wall"],
        "sampled, one at a time: generated tokens per CPU s": single["tokens"] / single["cpu"],
        "sampled speed-up in generated tokens per CPU s": (batched["tokens"] / batched["cpu"])
                                                          / (single["tokens"] / single["cpu"]),
        "sampling calls of the batched rollout, ours (CPU s)": ours,
        "the same calls, bare KV-cached loop (CPU s)": bare,
        "ours / bare loop (target <= 1.5)": ours / bare,
        "peak RSS (MB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--num-envs", type=int, default=32)
    a = p.parse_args(argv)
    for k, v in measure(a.env, a.episodes, a.num_envs).items():
        print(f"{k:<64} {v:>10.2f}")


if __name__ == "__main__":
    main()
