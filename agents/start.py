"""What every run of a task starts from, built once and cached (``$ARCHER_GYM_CACHE``): the SFT actor
(agents.sft), the start data (the SFT actor's own episodes) and the critic's offline warm-up on them."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path

import torch

from archer_gym import make_vec, read_jsonl, write_jsonl
from agents.algos import build_algorithm
from agents.buffer import ReplayBuffer
from agents.config import TrainConfig
from agents.models import autocast
from agents.policy import SAMPLER_VERSION
from agents.rollout import EpisodeSpec, collect
from agents.sft import cache_root, load_sft_actor, run_sft


#: Part of the critic warm-up's cache key: bump when the warm-up recipe or the critic's numerics change (3: the
#: critic's initial weights drawn from a fixed seed, not the building process's stream).
CRITIC_WARMUP_VERSION = 3
#: CriticConfig fields added after the warm-up's cache key was fixed: in the key only when not at their default.
WARMUP_OPTIONS = ("warmup_target", "warmup_ema", "warmup_v_actions")
START_SEED = 900_000_000  # env seeds of the start data: apart from every training run's (seed * 10M + count)


def start_data(cfg: TrainConfig, actor, sft_dir: Path, progress: bool = False) -> list:
    """``cfg.start_episodes`` episodes of the SFT actor (temperature 1, train split), collected once per SFT actor
    and cached as JSONL under ``$ARCHER_GYM_CACHE/start/<key>/``: the data a critic is warmed up on."""
    # The sampler's version is part of what the data is (it says how tokens are drawn). micro_batch set the order of
    # the draws before each row drew its own (SAMPLER_VERSION 2); it now changes only float rounding, as prefix reuse
    # does, and stays in the key for that (a float's last bits can move a draw).
    key = hashlib.sha256(json.dumps([cfg.sft.key(), cfg.env_id, cfg.start_episodes, cfg.num_envs, START_SEED,
                                     cfg.model.micro_batch, SAMPLER_VERSION],
                                    sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root() / "start" / key / "episodes.jsonl"
    if path.exists():
        return read_jsonl(path)
    gen = torch.Generator(device=actor.device).manual_seed(START_SEED)
    act = lambda obs: actor.sample(obs, generator=gen)  # noqa: E731
    venv = make_vec(cfg.env_id, cfg.num_envs, split="train")
    with autocast(cfg.model):
        res = collect(venv, act, [EpisodeSpec(seed=START_SEED + i) for i in range(cfg.start_episodes)],
                      env_id=cfg.env_id, policy_name="sft", progress=progress)
    venv.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"episodes.jsonl.tmp{os.getpid()}")
    write_jsonl(tmp, res.episodes)
    os.replace(tmp, path)
    return res.episodes


def warm_start_critic(cfg: TrainConfig, learner, actor, sft_dir: Path, progress: bool = False) -> None:
    """The offline critic warm-up (agents.algos.critic_learner.CriticLearner.warm_start) on the start data, the SFT actor's
    own episodes, with V's fresh actions from the SFT actor (seeded): the critic of the SFT policy, cached under a
    key of everything it depends on, so every seed of ArCHer and CHAI starts from the same critic."""
    steps = learner.cfg.critic_warmup_steps
    if steps <= 0:
        return
    model = cfg.model.cache_dict()
    critic_cfg = {k: getattr(learner.cfg, k) for k in ("gamma", "critic_lr", "tau", "batch_size", "max_grad_norm",
                                                        "cap_is_terminal")}
    # The warm-up's later options enter the key only when set: the default's key (and cached critics) stay as they were.
    critic_cfg.update({f.name: getattr(learner.cfg, f.name) for f in fields(learner.cfg)
                       if f.name in WARMUP_OPTIONS and getattr(learner.cfg, f.name) != f.default})
    key = hashlib.sha256(json.dumps([cfg.sft.key(), model, critic_cfg, steps, "start-data", cfg.start_episodes,
                                     CRITIC_WARMUP_VERSION, SAMPLER_VERSION],
                                    sort_keys=True).encode()).hexdigest()[:16]
    gen = torch.Generator(device=actor.device).manual_seed(0)
    sample_actions = lambda obs: actor.sample(obs, generator=gen).texts  # noqa: E731

    def data() -> ReplayBuffer:  # built only on a cache miss
        buf = ReplayBuffer(learner.cfg.buffer_capacity)
        buf.add_episodes(start_data(cfg, actor, sft_dir, progress))
        return buf

    learner.warm_start(data, sample_actions, steps, cache_root() / "critic" / key, progress=progress)


def prepare(cfg: TrainConfig, progress: bool = True, critic: bool = True) -> None:
    """Build (or find in the cache) what a run starts from: the SFT actor and, for ArCHer and CHAI (unless
    ``critic=False``), the warmed-up critic. compare.py calls it once before starting runs in parallel."""
    sft_dir = run_sft(cfg.sft, progress=progress)
    if not critic:
        return
    actor = load_sft_actor(sft_dir, cfg.model)
    algo = build_algorithm(cfg.algo, actor, cfg.algorithm_config(), cfg.model, seed=cfg.seed)
    if algo.critic_learner is not None:
        warm_start_critic(cfg, algo.critic_learner, actor, sft_dir, progress)
