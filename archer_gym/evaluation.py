"""Run scripted or callable policies on an env and summarise the episodes."""

from __future__ import annotations

import math
from typing import Callable

import gymnasium as gym
import numpy as np

from archer_gym.records import Episode, Transition

Policy = Callable[[str], str]


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


def evaluate_scripted(env_id: str, policy: str, *, episodes: int = 200, split: str = "eval", seed: int = 0,
                      progress: bool = False, **env_kwargs) -> tuple[dict, list[Episode]]:
    """Evaluate a task's scripted policy: the eval split's fixed sequence from ``reset(seed=seed)``."""
    env = gym.make(env_id, split=split, **env_kwargs)
    rng = np.random.default_rng(seed)
    eps = []
    it = range(episodes)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"{policy} on {env_id}", unit="ep")
    for i in it:
        pol = scripted_policy(env, policy, rng)
        eps.append(run_episode(env, pol, seed=seed if i == 0 else None, env_id=env_id, policy_name=policy))
    env.close()
    out = summarize(eps)
    out.update(env_id=env_id, policy=policy, split=split, seed=seed)
    return out, eps
