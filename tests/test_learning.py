"""Slow learning tests on TwentyQuestionsSubset-v0 with the embedded tiny models (fixed seeds, CPU).

Baselines are measured in the same test, never written by hand: the SFT actor's eval return against the
random policy's, and each method's final eval return against the SFT start.
"""

import math

import numpy as np
import pytest

import archer_gym
from agents.evaluate import evaluate_actor
from agents.models import ModelConfig
from agents.sft import SFTConfig, load_sft_actor, run_sft
from agents.trainer import TrainConfig, Trainer

ENV = "archer/TwentyQuestionsSubset-v0"
pytestmark = pytest.mark.slow


def test_sft_policy_beats_random_on_the_eval_split():
    actor = load_sft_actor(run_sft(SFTConfig(env_id=ENV), progress=False), ModelConfig())
    sft = evaluate_actor(actor, ENV, episodes=100, greedy=True)
    sft_sampled = evaluate_actor(actor, ENV, episodes=100, greedy=False)
    ref = archer_gym.reference(ENV)  # the scripted random and expert on the same eval starts (registry figures)
    rand, expert = ref["random"], ref["expert"]
    print(f"SFT greedy {sft['mean_return']:.2f}, sampled {sft_sampled['mean_return']:.2f}, "
          f"random {rand['mean_return']:.2f}, expert {expert['mean_return']:.2f}")
    assert sft["mean_return"] > rand["mean_return"] + 3.0
    assert sft_sampled["mean_return"] > rand["mean_return"] + 3.0
    assert sft["mean_return"] < expert["mean_return"]  # competent but below the expert, as intended


#: Sampled eval episodes of the SFT start and of each run's final actor. The learning test's figure is a
#: difference of two eval means; at 100 episodes (the trainer's curve points) each mean has a standard error of
#: about 0.6 (per-episode std 6.4), as large as ArCHer's gain at this budget: the CI run at b4301ca failed on a
#: draw (100-episode start -7.15 where 1,000 episodes give -7.76). At 1,000 each has about 0.2.
PRECISE_EPISODES = 1000


def _se(summary: dict) -> float:
    return summary["return_ci95"] / 1.96


@pytest.fixture(scope="module")
def sft_start() -> dict:
    """The SFT actor's sampled eval over PRECISE_EPISODES (the eval split's fixed starts, as every final below)."""
    actor = load_sft_actor(run_sft(SFTConfig(env_id=ENV), progress=False), ModelConfig())
    return evaluate_actor(actor, ENV, episodes=PRECISE_EPISODES, greedy=False)


def _final(algo: str, seed: int, tmp_path, trajectories: int, algo_config: dict | None = None) -> dict:
    """Train ``algo`` with the quick preset's settings (64 trajectories an iteration, 1 torch thread as compare.py
    runs it: more threads than free cores slows these small models 10-100x), then the final actor's sampled eval
    over PRECISE_EPISODES. The trainer's own evaluation points do not touch its training streams, so the runs are
    ``baselines/compare.py``'s (and ``python -m agents.train``'s) of the same ``algo_config`` up to ``trajectories``."""
    cfg = TrainConfig(algo=algo, env_id=ENV, trajectories=trajectories, rollout_trajectories=64, num_envs=32,
                      eval_every=trajectories, eval_episodes=100, seed=seed, threads=1,
                      out=str(tmp_path / f"{algo}{seed}"), algo_config=dict(algo_config or {}))
    trainer = Trainer(cfg, progress=False)
    trainer.train()
    return evaluate_actor(trainer.actor, ENV, episodes=PRECISE_EPISODES, greedy=False)


def _assert_raises_the_sft_return(algo: str, seeds: tuple[int, ...], tmp_path, start: dict, trajectories: int,
                                  algo_config: dict | None = None) -> None:
    """Every seed ends above the shared SFT start, and the mean gain over ``seeds`` is more than three standard errors
    of the evaluation (the start's and the finals', combined): a policy that did not change, or got worse, fails with
    probability above 99.8%. With one seed per test (PPO), CI's two pytest-xdist workers run the seeds side by side."""
    finals = [_final(algo, seed, tmp_path, trajectories, algo_config) for seed in seeds]
    gains = np.array([f["mean_return"] - start["mean_return"] for f in finals])
    se = math.sqrt(_se(start) ** 2 + sum(_se(f) ** 2 for f in finals) / len(finals) ** 2)
    print(f"{algo} seeds {list(seeds)}: start {start['mean_return']:.2f}, finals "
          f"{[round(f['mean_return'], 2) for f in finals]}, gain {gains.mean():.2f}, standard error {se:.2f} "
          f"({PRECISE_EPISODES} episodes each)")
    assert gains.min() > 0  # every seed improves
    assert gains.mean() > 3 * se


def test_archer_raises_the_sft_return(tmp_path, sft_start):
    """ArCHer as the comparison runs it (its defaults, the paper's flow: replay states, fresh actions, min Q - min V,
    see agents/algos/archer.py; with baselines/tuned.json's actor lr 1e-4 and kl_coef 0.1) raises the SFT policy's
    sampled eval return over 512 trajectories, seeds 0 and 1 (the first two of ``python baselines/compare.py``'s
    archer row). The actor moves from the first iteration (``warmup_iterations=0``, the default since the measurement
in agents/algos/archer.py; before, it was frozen for 2 iterations, 128 trajectories, while the critic caught up).

    With the actor moving from the first iteration (f26f2ec), the comparison's seeds 0 and 1 end at -6.21 and -5.52
    over 500 eval episodes, from an SFT start of -8.28 (docs/results/summary.md). Before, with 2 frozen iterations:
    measured at 757bc71 (``python -m agents.train --algo archer --trajectories 512 --seed S --algo-arg
    actor_lr=1e-4 --algo-arg kl_coef=0.1``, then ``python -m agents.evaluate RUN --sft --episodes 1000``): start
    -7.76 ± 0.40 (95% CI); finals -6.05 ± 0.31 and -6.15 ± 0.31; gain 1.66 against a threshold of 3 standard
    errors = 0.69.

    The two seeds stay in one test with the combined criterion: held to 3 standard errors per seed, seed 0 failed
    in a fresh-clone ``.ci/run`` at e95551d (start -8.08, final -7.69 over 1,000 episodes: gain 0.39 against 0.87),
    where a copy of that run's cache gave seed 0 -6.23 here. The likely cause, found later: the critic warm-up's
    initial weights came from the building process's global torch stream (measured: two builds from two global
    seeds gave two critics), so when both seeds' tests missed the cache at once in CI, each trained from its own
    trainer's draw and only one of the two critics was cached: a rerun from that cache is not the CI's run. Fixed at 0ba0a6f
    (a seeded warm-up, tests/test_agents.py checks it); what stays is ArCHer's seed-to-seed spread at this budget
    (compare.py's 95% CI was ± 2.12 over 3 seeds at 2cc8748), so the test asks that no seed gets worse and that
    the seeds' mean gain clears 3 standard errors.

    History (100-episode evals, which this test no longer uses): at 6e0aecf start -7.15, finals -6.01 and -6.63;
    the CI run at b4301ca, the same code on another machine, -6.96 and -6.11, which failed the old criterion (gain >
    the two seeds' spread). Runs on two machines are not bit-identical (see docs/results/summary.md).
    """
    from baselines.presets import tuned_algo_args

    _assert_raises_the_sft_return("archer", (0, 1), tmp_path, sft_start, 512, tuned_algo_args().get("archer", {}))


@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_raises_the_sft_return(seed, tmp_path, sft_start):
    """PPO with its defaults (lr 3e-4, unclipped value loss, value head started at the returns; agents/algos/ppo.py)
    raises the SFT policy's sampled eval return over 256 trajectories, seeds 0 and 1.

    Measured at 757bc71 (``python -m agents.train --algo ppo --trajectories 256 --seed S``, then ``python -m
    agents.evaluate RUN --episodes 1000``): start -7.76 ± 0.40 (95% CI); finals -5.50 ± 0.30 and -5.78 ± 0.32; gains
    2.26 and 1.98 against a threshold of 0.77 per seed. PPO at 256 trajectories is above ArCHer at 512 (above).

    History (512 trajectories, 100-episode evals): at 6e0aecf start -7.15, finals -5.31 and -4.92.
    """
    _assert_raises_the_sft_return("ppo", (seed,), tmp_path, sft_start, 256)
