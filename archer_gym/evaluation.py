"""Run scripted or callable policies on an env and summarise the episodes."""

from __future__ import annotations

import math
from typing import Callable

import gymnasium as gym
import numpy as np

from archer_gym.records import Episode, Transition

Policy = Callable[[str], str]

#: The evaluation starts' seed: every evaluation in archer-gym (a trained actor's, the trainer's curve points, the
#: scripted reference lines, a prompted model's) plays :func:`eval_starts` from it unless told otherwise.
EVAL_SEED = 10_000


def eval_starts(env_id: str, episodes: int, seed: int = EVAL_SEED, split: str = "eval",
                **env_kwargs) -> list[tuple[int, dict]]:
    """``episodes`` starts ``(reset seed, reset options)`` that walk the split's targets in a fixed shuffled order
    (``seed``'s permutation), so every target comes equally often (up to one) and fewer episodes than targets are a
    uniform sample of them, not the first ones in list order (TwentyQuestions-v0's 100 eval episodes once saw its
    first 100 of 158 words). One sequence for every policy evaluated: scripted, prompted or trained."""
    env = gym.make(env_id, split=split, **env_kwargs)
    targets = list(env.unwrapped.targets)
    env.close()
    order = np.random.default_rng(seed).permutation(len(targets))
    return [(seed + i, {"target": targets[order[i % len(targets)]]}) for i in range(episodes)]


def mean_ci95(values) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% confidence interval."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else 0.0
    return float(x.mean()), float(half)


def scripted_policy(env: gym.Env, name: str, rng: np.random.Generator) -> Policy:
    """The task's scripted policy ``name`` (``expert``, ``random``, ...) for ``env``."""
    factories = env.unwrapped.scripted_policies()
    if name not in factories:
        raise ValueError(f"{env.unwrapped.spec.id if env.unwrapped.spec else type(env.unwrapped).__name__} "
                         f"has no scripted policy {name!r}; choose one of {sorted(factories)}")
    return factories[name](env.unwrapped, rng)


def run_episode(env: gym.Env, policy: Policy, *, seed: int | None = None, options: dict | None = None,
                env_id: str = "", policy_name: str = "") -> Episode:
    obs, info = env.reset(seed=seed, options=options)
    ep = Episode(env_id=env_id, target=str(env.unwrapped.target), seed=seed, policy=policy_name)
    while True:
        action = policy(obs)
        nxt, r, term, trunc, info = env.step(action)
        ep.transitions.append(Transition(obs, action, float(r), nxt, bool(term), bool(trunc)))
        obs = nxt
        if term or trunc:
            ep.success = bool(info["episode"]["success"])
            return ep


def summarize(episodes: list[Episode]) -> dict:
    mean, ci = mean_ci95(e.ret for e in episodes)
    return {
        "episodes": len(episodes),
        "mean_return": mean,
        "return_ci95": ci,
        "success_rate": float(np.mean([e.success for e in episodes])) if episodes else float("nan"),
        "mean_turns": float(np.mean([e.length for e in episodes])) if episodes else float("nan"),
        # Mean return per target: a greedy policy on a deterministic oracle plays one episode per target however
        # many are run, so this, not the CI over repeated episodes, is what its figure is made of.
        "per_target": {t: float(np.mean([e.ret for e in episodes if e.target == t]))
                       for t in sorted({e.target for e in episodes})},
    }


def evaluate_scripted(env_id: str, policy: str, *, episodes: int = 200, split: str = "eval", seed: int = EVAL_SEED,
                      progress: bool = False, **env_kwargs) -> tuple[dict, list[Episode]]:
    """Evaluate a task's scripted policy on the split's starts (:func:`eval_starts` of ``seed``: the starts trained
    actors are evaluated on), its random choices seeded with ``seed``."""
    env = gym.make(env_id, split=split, **env_kwargs)
    rng = np.random.default_rng(seed)
    starts = eval_starts(env_id, episodes, seed, split, **env_kwargs)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=f"{policy} on {env_id}", unit="ep")
    eps = [run_episode(env, scripted_policy(env, policy, rng), seed=s, options=o, env_id=env_id, policy_name=policy)
           for s, o in starts]
    env.close()
    out = summarize(eps)
    out.update(env_id=env_id, policy=policy, split=split, seed=seed)
    return out, eps


#: The scripted policies a task's reference figures are made of.
REFERENCE_POLICIES = ("expert", "random")


def measure_reference(env_id: str, episodes: int, seed: int = EVAL_SEED) -> dict:
    """A task's reference entry: its scripted expert and random on the eval starts every policy is evaluated on."""
    keep = ("mean_return", "return_ci95", "success_rate", "mean_turns")
    out: dict = {"episodes": episodes, "seed": seed}
    for policy in REFERENCE_POLICIES:
        summary, _ = evaluate_scripted(env_id, policy, episodes=episodes, split="eval", seed=seed)
        out[policy] = {k: summary[k] for k in keep}
    return out
