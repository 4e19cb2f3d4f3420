"""Evaluate an actor (or any act function) on a task's eval split: the same targets and seeds for every method."""

from __future__ import annotations

import gymnasium as gym
import torch

from archer_gym import make_vec
from archer_gym.evaluation import summarize
from agents.rollout import ActFn, EpisodeSpec, collect


def eval_specs(env_id: str, episodes: int, seed: int = 10_000) -> list[EpisodeSpec]:
    """``episodes`` starts that walk the eval split's targets in order (each target equally often)."""
    env = gym.make(env_id, split="eval")
    targets = list(env.unwrapped.targets)
    env.close()
    return [EpisodeSpec(seed=seed + i, options={"target": targets[i % len(targets)]}) for i in range(episodes)]


def actor_act_fn(actor, *, greedy: bool, seed: int = 0, temperature: float = 1.0) -> ActFn:
    gen = torch.Generator(device=actor.device).manual_seed(seed)

    def act(observations):
        return actor.sample(observations, greedy=greedy, temperature=temperature, generator=gen)

    return act


def evaluate_act_fn(act: ActFn, env_id: str, *, episodes: int = 100, num_envs: int = 32, seed: int = 10_000) -> dict:
    venv = make_vec(env_id, min(num_envs, episodes), split="eval")
    res = collect(venv, act, eval_specs(env_id, episodes, seed), env_id=env_id)
    venv.close()
    out = summarize(res.episodes)
    out["tokens"] = res.counts.tokens
    return out


def evaluate_actor(actor, env_id: str, *, episodes: int = 100, greedy: bool = True, num_envs: int = 32,
                   seed: int = 10_000) -> dict:
    """Summary (mean_return, return_ci95, success_rate, mean_turns, episodes) on the eval split."""
    return evaluate_act_fn(actor_act_fn(actor, greedy=greedy, seed=seed), env_id, episodes=episodes,
                           num_envs=num_envs, seed=seed)
