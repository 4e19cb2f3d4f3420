"""Slow learning tests on TwentyQuestionsSubset-v0 with the embedded tiny models (fixed seeds, CPU).

Baselines are measured in the same test, never written by hand: the SFT actor's eval return against the
random policy's, and each method's final eval return against the SFT start.
"""

import numpy as np
import pytest

from archer_gym.evaluation import evaluate_scripted
from agents.evaluate import evaluate_actor
from agents.models import ModelConfig
from agents.sft import SFTConfig, load_sft_actor, run_sft
from agents.trainer import TrainConfig, train

ENV = "archer/TwentyQuestionsSubset-v0"
pytestmark = pytest.mark.slow


def test_sft_policy_beats_random_on_the_eval_split():
    actor = load_sft_actor(run_sft(SFTConfig(env_id=ENV), progress=False), ModelConfig())
    sft = evaluate_actor(actor, ENV, episodes=100, greedy=True)
    sft_sampled = evaluate_actor(actor, ENV, episodes=100, greedy=False)
    rand, _ = evaluate_scripted(ENV, "random", episodes=200, split="eval", seed=0)
    expert, _ = evaluate_scripted(ENV, "expert", episodes=200, split="eval", seed=0)
    print(f"SFT greedy {sft['mean_return']:.2f}, sampled {sft_sampled['mean_return']:.2f}, "
          f"random {rand['mean_return']:.2f}, expert {expert['mean_return']:.2f}")
    assert sft["mean_return"] > rand["mean_return"] + 3.0
    assert sft_sampled["mean_return"] > rand["mean_return"] + 3.0
    assert sft["mean_return"] < expert["mean_return"]  # competent but below the expert, as intended


def _final_and_start(algo: str, seed: int, tmp_path) -> tuple[float, float]:
    """Train ``algo`` with the quick preset's settings (512 trajectories, 1 torch thread as compare.py runs it);
    (start, final) sampled eval return."""
    cfg = TrainConfig(algo=algo, env_id=ENV, trajectories=512, rollout_trajectories=64, num_envs=32, eval_every=256,
                      eval_episodes=100, seed=seed, threads=1, out=str(tmp_path / f"{algo}{seed}"))
    rows = train(cfg, progress=False)
    return rows[0]["eval_sampled_return"], rows[-1]["eval_sampled_return"]


def test_archer_raises_the_sft_return(tmp_path):
    """ArCHer (defaults: TD advantage, own rollouts in the replay; see agents/algos/archer.py) raises the SFT
    policy's sampled eval return by more than the seed-to-seed noise measured here.

    Measured at 6dfd14c (1 thread): start -7.59; finals -6.37 and -6.07 for seeds 0 and 1, gain 1.37 against a
    noise of 0.50 (before the fused-GELU tiny model: -6.17 and -6.23). Noise: the two seeds' spread, and never
    less than the eval's own standard error (100 episodes, per-episode std about 5 return units -> 0.5).
    """
    results = [_final_and_start("archer", seed, tmp_path) for seed in (0, 1)]
    start = results[0][0]
    assert all(s == start for s, _ in results)  # every seed starts from the same SFT actor and eval
    finals = np.array([f for _, f in results])
    gain = finals.mean() - start
    noise = max(abs(finals[0] - finals[1]), 0.5)
    print(f"archer: start {start:.2f}, finals {finals.round(2).tolist()}, gain {gain:.2f}, noise {noise:.2f}")
    assert gain > noise
    assert finals.min() > start  # every seed improves
