"""Batched rollouts against one-env-at-a-time generation, same model: trajectories/s, tokens/s, the ratio.

    python bench/rollout_throughput.py [--env archer/TwentyQuestionsSubset-v0] [--episodes 64] [--num-envs 32]

Uses the embedded SFT actor (built and cached on first use). Prints figures and the peak resident
memory of this process; asserts nothing.
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
from agents.rollout import EpisodeSpec, collect  # noqa: E402
from agents.sft import SFTConfig, load_sft_actor, run_sft  # noqa: E402


def rate(actor, env_id: str, episodes: int, num_envs: int) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(0)
    venv = make_vec(env_id, num_envs)
    t = time.perf_counter()
    res = collect(venv, lambda o: actor.sample(o, generator=gen), [EpisodeSpec(seed=i) for i in range(episodes)])
    dt = time.perf_counter() - t
    return res.counts.trajectories / dt, res.counts.tokens / dt


def measure(env_id: str = "archer/TwentyQuestionsSubset-v0", episodes: int = 64, num_envs: int = 32) -> dict[str, float]:
    model = ModelConfig()
    actor = load_sft_actor(run_sft(SFTConfig(env_id=env_id, model=model), progress=False), model)
    b_traj, b_tok = rate(actor, env_id, episodes, num_envs)
    s_traj, s_tok = rate(actor, env_id, episodes, 1)
    return {
        f"batched ({num_envs} envs) trajectories/s": b_traj,
        f"batched ({num_envs} envs) generated tokens/s": b_tok,
        "one-at-a-time trajectories/s": s_traj,
        "one-at-a-time generated tokens/s": s_tok,
        "speed-up (trajectories/s ratio)": b_traj / s_traj,
        "peak RSS (MB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--num-envs", type=int, default=32)
    a = p.parse_args(argv)
    for k, v in measure(a.env, a.episodes, a.num_envs).items():
        print(f"{k:<50} {v:>10.1f}")


if __name__ == "__main__":
    main()
