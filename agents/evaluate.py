"""Evaluate an actor (or any act function) on a task's eval split: the same targets and seeds for every method."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from archer_gym import make_vec
from archer_gym.evaluation import EVAL_SEED, eval_starts, summarize
from agents.rollout import ActFn, EpisodeSpec, collect


def eval_specs(env_id: str, episodes: int, seed: int = EVAL_SEED) -> list[EpisodeSpec]:
    """The eval split's starts (:func:`archer_gym.evaluation.eval_starts`) as the collector's episode specs: the
    methods' evaluations play the same starts as the scripted reference lines and prompted models."""
    return [EpisodeSpec(seed=s, options=o) for s, o in eval_starts(env_id, episodes, seed)]


def actor_act_fn(actor, *, greedy: bool, seed: int = 0, temperature: float = 1.0) -> ActFn:
    gen = torch.Generator(device=actor.device).manual_seed(seed)

    def act(observations):
        return actor.sample(observations, greedy=greedy, temperature=temperature, generator=gen)

    return act


def evaluate_act_fn(act: ActFn, env_id: str, *, episodes: int = 100, num_envs: int = 32,
                    seed: int = EVAL_SEED) -> dict:
    venv = make_vec(env_id, min(num_envs, episodes), split="eval")
    res = collect(venv, act, eval_specs(env_id, episodes, seed), env_id=env_id)
    venv.close()
    out = summarize(res.episodes)
    out["tokens"] = res.counts.tokens
    return out


def evaluate_actor(actor, env_id: str, *, episodes: int = 100, greedy: bool = True, num_envs: int = 32,
                   seed: int = EVAL_SEED) -> dict:
    """Summary (mean_return, return_ci95, success_rate, mean_turns, episodes) on the eval split."""
    return evaluate_act_fn(actor_act_fn(actor, greedy=greedy, seed=seed), env_id, episodes=episodes,
                           num_envs=num_envs, seed=seed)


def load_run_algorithm(run_dir):
    """``(algorithm, TrainConfig)`` of a training run's last checkpoint: the algorithm rebuilt on the run's SFT actor
    (from the cache, built if missing) and every module (actor, critic, ...) loaded from the checkpoint, as the
    trainer's ``--resume`` does. ``FileNotFoundError`` / ``ValueError`` (``CheckpointError``) with one-line messages."""
    from agents.algos import build_algorithm
    from agents.checkpoint import find_checkpoint, load_checkpoint, verify_checkpoint
    from agents.sft import load_sft_actor, run_sft
    from agents.config import TrainConfig

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a training run (no config.json)")
    ckpt = find_checkpoint(run_dir / "checkpoint")
    if ckpt is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoint")
    verify_checkpoint(ckpt)  # a corrupt file stops here, before any model is built
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    actor = load_sft_actor(run_sft(cfg.sft, progress=False), cfg.model)
    algo = build_algorithm(cfg.algo, actor, cfg.algorithm_config(), cfg.model, seed=cfg.seed,
                           temperature=cfg.temperature)
    load_checkpoint(ckpt, modules=algo.modules(), optimizers={}, restore_rng=False)
    actor.model.eval()
    return algo, cfg


def load_run_actor(run_dir):
    """``(actor, TrainConfig)``: the actor of a run's last checkpoint (see :func:`load_run_algorithm`)."""
    algo, cfg = load_run_algorithm(run_dir)
    return algo.actor, cfg


def main(argv=None) -> int:
    """``python -m agents.evaluate RUN_DIR [RUN_DIR ...] --episodes N [--greedy]``: each run's final actor on the eval
    split (its task's, the same starts for every run), one line each; ``--sft`` adds the runs' SFT start."""
    from archer_gym.cli import ArgumentParser, positive_int

    p = ArgumentParser(prog="python -m agents.evaluate", description=main.__doc__)
    p.add_argument("runs", nargs="+", help="training run directories (with config.json and a checkpoint)")
    p.add_argument("--episodes", type=positive_int, default=1000)
    p.add_argument("--greedy", action="store_true", help="greedy decoding (default: sampled at temperature 1)")
    p.add_argument("--sft", action="store_true", help="also evaluate the first run's SFT actor")
    p.add_argument("--sft-only", action="store_true", help="evaluate only the first run's SFT actor")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--json", default=None, help="also write the rows to this file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    try:  # the whole algorithm, as the trainer evaluates it: CHAI acts by its best-of-k pick under its critic
        loaded = [(str(r), *load_run_algorithm(r)) for r in a.runs]
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    if a.sft or a.sft_only:
        from agents.algos.base import ActorAlgorithm
        from agents.sft import load_sft_actor, run_sft
        _, _, cfg = loaded[0]
        sft = ("sft", ActorAlgorithm(load_sft_actor(run_sft(cfg.sft, progress=False), cfg.model), seed=0), cfg)
        loaded = [sft] if a.sft_only else [sft, *loaded]
    for name, algo, cfg in loaded:
        algo.reset_eval(EVAL_SEED)  # the trainer's eval sampling stream (plain actors: evaluate_actor's, same seed)
        act = lambda obs, algo=algo: algo.eval_act(obs, a.greedy)  # noqa: E731
        r = evaluate_act_fn(act, cfg.env_id, episodes=a.episodes, seed=EVAL_SEED)
        rows.append({"run": name, "env_id": cfg.env_id, "greedy": a.greedy, **r})
        print(f"{name}: {r['mean_return']:.3f} ± {r['return_ci95']:.3f} (95% CI), success {r['success_rate']:.3f}, "
              f"{a.episodes} episodes", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
