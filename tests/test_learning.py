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


def _final_and_start(algo: str, seed: int, tmp_path, algo_config: dict | None = None) -> tuple[float, float]:
    """Train ``algo`` with the quick preset's settings (512 trajectories, eval every 128, 1 torch thread as
    compare.py runs it: more threads than free cores slows these small models 10-100x); (start, final) sampled
    eval return. The same runs as ``baselines/compare.py`` / ``baselines/sweep.py`` make with the same
    ``algo_config``, so their figures are these."""
    cfg = TrainConfig(algo=algo, env_id=ENV, trajectories=512, rollout_trajectories=64, num_envs=32, eval_every=128,
                      eval_episodes=100, seed=seed, threads=1, out=str(tmp_path / f"{algo}{seed}"),
                      algo_config=dict(algo_config or {}))
    rows = train(cfg, progress=False)
    return rows[0]["eval_sampled_return"], rows[-1]["eval_sampled_return"]


def _assert_raises_the_sft_return(algo: str, tmp_path, algo_config: dict | None = None) -> None:
    """Seeds 0 and 1: every seed ends above the shared SFT start, and the mean gain exceeds the noise (the two
    seeds' spread, and never less than the eval's own standard error: 100 episodes, per-episode std about 5
    return units -> 0.5)."""
    results = [_final_and_start(algo, seed, tmp_path, algo_config) for seed in (0, 1)]
    start = results[0][0]
    assert all(s == start for s, _ in results)  # every seed starts from the same SFT actor and eval
    finals = np.array([f for _, f in results])
    gain = finals.mean() - start
    noise = max(abs(finals[0] - finals[1]), 0.5)
    print(f"{algo}: start {start:.2f}, finals {finals.round(2).tolist()}, gain {gain:.2f}, noise {noise:.2f}")
    assert gain > noise
    assert finals.min() > start  # every seed improves


def test_archer_raises_the_sft_return(tmp_path):
    """ArCHer as the comparison runs it (its defaults, the paper's flow: replay states, fresh actions, min Q - min V,
    see agents/algos/archer.py; with the tuning sweep's actor lr from baselines/tuned.json) raises the SFT policy's
    sampled eval return. The configuration of seeds 0 and 1 of ``python baselines/compare.py``'s archer row.

    Measured at caa71dd with the old critic (the SFT actor's body reading s + a in one pass) and the default actor lr
    3e-5: start -9.07; finals -6.42 and -7.56, gain 2.08 against a noise of 1.14. The actor is frozen for the first
    2 iterations (128 trajectories) while the critic catches up.

    Measured with the tiny BERT critic and the tuned lr 1e-4, this test at cba9b24 (``pytest -m slow -k archer``):
    start -9.07; finals -6.80 and -6.63, gain 2.36 against a noise of 0.50. The comparison's runs of the same
    configuration (at 33a3f32, each in its own ``agents.train`` process) agree up to 256 trajectories (-6.00 on
    seed 0) and then part: finals -5.99 and -7.21. They are not bit-identical, and the cause is not yet found.

    Measured at 6e0aecf (the SFT actor rebuilt with length-sorted micro-batches, whose sampled start is -7.15; tuned
    lr 1e-4 with kl_coef=0.1, because lr 1e-4 alone collapses past 512 trajectories: see baselines/tuned.json):
    start -7.15; finals -6.01 and -6.63, gain 0.83 against a noise of 0.62 (passes, by a thin margin). Seed 0's
    first 384 trajectories equal the ``agents.train`` run of the same settings (-7.57 at 384) to the printed digit.
    """
    from baselines.presets import tuned_algo_args

    _assert_raises_the_sft_return("archer", tmp_path, tuned_algo_args().get("archer", {}))


def test_ppo_raises_the_sft_return(tmp_path):
    """PPO with its defaults (unclipped value loss, value head started at the returns; agents/algos/ppo.py) raises
    the SFT policy's sampled eval return, with no seed diverging.

    Measured at caa71dd (``baselines/sweep.py``, run ppo-lr=0.0003): start -9.07; finals -4.96 and -5.08 for
    seeds 0 and 1 (greedy -3.0 on both), gain 4.05 against a noise of 0.5. At 6e0aecf (the rebuilt SFT actor):
    start -7.15; finals -5.31 and -4.92, gain 2.04 against a noise of 0.50.
    """
    _assert_raises_the_sft_return("ppo", tmp_path)
