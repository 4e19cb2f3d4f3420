"""The one outer loop of every algorithm: collect, update, evaluate, log, checkpoint, resume.

Each iteration plays ``rollout_trajectories`` episodes on the train split (one batched generate per
turn over ``num_envs`` envs), adds them to the replay buffer if the algorithm uses one, and calls
``algorithm.update``. Every ``eval_every`` trajectories (and at 0 and at the budget) it evaluates
greedy and sampled acting on the eval split (same targets and seeds for every method), appends a
row to ``metrics.csv`` and writes a checkpoint. Budgets are trajectories; rows also carry env steps,
generated tokens and wall-clock seconds.

``metrics.csv`` columns: algo, env_id, seed, iteration, trajectories, env_steps, tokens (generated
while training), seconds (training wall-clock, evaluation excluded), train_return (mean over the
iterations since the last row), eval_return / eval_return_ci95 / eval_success / eval_turns (greedy),
eval_sampled_return / eval_sampled_ci95 / eval_sampled_success (temperature 1), then the
algorithm's update statistics averaged since the last row (losses, advantage, entropy, ...).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import archer_gym
from archer_gym import make_vec, read_jsonl
from agents.algos import build_algorithm, check_algo, default_config
from agents.buffer import ReplayBuffer
from agents.checkpoint import load_checkpoint, save_checkpoint
from agents.evaluate import evaluate_act_fn
from agents.models import ModelConfig
from agents.rollout import Counts, EpisodeSpec, collect
from agents.sft import SFTConfig, cache_root, load_sft_actor, run_sft

EVAL_SEED = 10_000


@dataclass
class TrainConfig:
    algo: str = "archer"
    env_id: str = "archer/TwentyQuestionsSubset-v0"
    trajectories: int = 3000          # budget, counted in trajectories
    rollout_trajectories: int = 64    # episodes collected per iteration
    num_envs: int = 32                # envs stepped in lockstep
    eval_every: int = 256             # trajectories between evaluations
    eval_episodes: int = 100
    eval_sampled: bool = True
    seed_buffer: bool = True          # off-policy methods also keep the SFT data set in their replay
    seed: int = 0
    temperature: float = 1.0
    threads: int = 0                  # torch intra-op threads (0: torch's default)
    out: str = "runs/archer"
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    algo_config: dict = field(default_factory=dict)  # overrides of the algorithm's config fields

    def __post_init__(self):
        check_algo(self.algo)
        archer_gym.get_spec(self.env_id)
        if self.rollout_trajectories < 1 or self.num_envs < 1 or self.eval_every < 1:
            raise ValueError("rollout_trajectories, num_envs and eval_every must be >= 1")
        if self.trajectories < self.rollout_trajectories:
            raise ValueError(f"trajectories={self.trajectories} is less than one iteration "
                             f"(rollout_trajectories={self.rollout_trajectories})")
        self.sft.env_id = self.env_id
        self.sft.model = self.model
        self.algorithm_config()  # validate overrides now, where they enter

    def algorithm_config(self):
        cfg = default_config(self.algo)
        return _override(cfg, self.algo_config, f"--algo-arg for {self.algo}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        model = ModelConfig(**d.pop("model", {}))
        sft = d.pop("sft", {})
        sft.pop("model", None)
        return cls(model=model, sft=SFTConfig(model=model, **sft), **d)


def _override(cfg, overrides: dict, where: str):
    """Set dataclass fields from ``{"a.b": value}`` (nested with dots), converting strings by field type."""
    for key, value in overrides.items():
        obj, parts = cfg, key.split(".")
        for p in parts[:-1]:
            obj = getattr(obj, p)
        names = {f.name: f for f in dataclasses.fields(obj)}
        if parts[-1] not in names:
            raise ValueError(f"{where}: {type(obj).__name__} has no field {parts[-1]!r}; fields: {sorted(names)}")
        current = getattr(obj, parts[-1])
        if isinstance(value, str) and not isinstance(current, str):
            value = (value.lower() in ("1", "true", "yes")) if isinstance(current, bool) else type(current)(value)
        setattr(obj, parts[-1], value)
    if hasattr(cfg, "__post_init__"):
        cfg.__post_init__()
    return cfg


def write_csv_atomic(path: Path, rows: list[dict]) -> None:
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class _StopFlag:
    """First Ctrl-C: finish the iteration, checkpoint, stop. Second: abort at once."""

    def __init__(self):
        self.set = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handle(self, *_):
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("\ninterrupt: finishing this iteration, then saving a checkpoint (Ctrl-C again to abort)", flush=True)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class Trainer:
    def __init__(self, cfg: TrainConfig, *, resume: bool = False, progress: bool = True):
        self.cfg, self.progress = cfg, progress
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoint"
        if self.ckpt_dir.exists() and not resume:
            raise FileExistsError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        if resume and (self.out / "config.json").exists():
            saved = json.loads((self.out / "config.json").read_text())
            if saved != _jsonable(cfg):
                raise ValueError(f"--resume with a config that differs from {self.out / 'config.json'}; "
                                 "resume with the same arguments (or a new --out)")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.sft_dir = run_sft(cfg.sft, progress=progress)
        self.actor = load_sft_actor(self.sft_dir, cfg.model)
        acfg = cfg.algorithm_config()
        self.algo = build_algorithm(cfg.algo, self.actor, acfg, cfg.model, seed=cfg.seed,
                                    temperature=cfg.temperature)
        capacity = getattr(getattr(acfg, "critic", acfg), "buffer_capacity", 1)
        self.buffer = ReplayBuffer(capacity) if self.algo.uses_buffer else None
        if self.buffer is not None and cfg.seed_buffer:
            # The scripted episodes the SFT actor was trained on are off-policy data every method was
            # given; an off-policy critic (ArCHer, CHAI) can learn from them, on-policy methods cannot.
            self.buffer.add_episodes(read_jsonl(self.sft_dir / "data.jsonl"))
        self.venv = make_vec(cfg.env_id, cfg.num_envs, split="train")
        self.counts = Counts()
        self.iteration = 0
        self.seconds = 0.0
        self.rows: list[dict] = []
        self.pending: dict[str, list[float]] = {}
        self.next_eval = 0
        if resume and self.ckpt_dir.exists():
            self._load()
        elif self.algo.critic_learner is not None:
            warm_start_critic(cfg, self.algo.critic_learner, self.actor, self.sft_dir, progress)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(_jsonable(cfg), indent=2))
        self.tb = _tensorboard(self.out)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        return {"counts": asdict(self.counts), "iteration": self.iteration, "seconds": self.seconds,
                "rows": self.rows, "pending": self.pending, "next_eval": self.next_eval,
                "algo_rng": self.algo.rng_state()}

    def save(self) -> None:
        if self.buffer is not None:
            self.buffer.save(self.out / "buffer.jsonl")  # written first: a checkpoint never points past it
        save_checkpoint(self.ckpt_dir, modules=self.algo.modules(), optimizers=self.algo.optimizers(),
                        state=self._state())

    def _load(self) -> None:
        state = load_checkpoint(self.ckpt_dir, modules=self.algo.modules(), optimizers=self.algo.optimizers())
        self.counts = Counts(**state["counts"])
        self.iteration, self.seconds = state["iteration"], state["seconds"]
        self.rows, self.pending, self.next_eval = state["rows"], state["pending"], state["next_eval"]
        self.algo.set_rng_state(state["algo_rng"])
        if self.buffer is not None:
            self.buffer = ReplayBuffer.load(self.out / "buffer.jsonl")

    # ------------------------------------------------------------------ loop
    def evaluate(self) -> dict:
        row = {"algo": self.cfg.algo, "env_id": self.cfg.env_id, "seed": self.cfg.seed, "iteration": self.iteration,
               **asdict(self.counts), "seconds": round(self.seconds, 2)}
        row["train_return"] = float(np.mean(self.pending.pop("train_return", [float("nan")])))
        modes = [("eval", True)] + ([("eval_sampled", False)] if self.cfg.eval_sampled else [])
        res = None
        for prefix, greedy in modes:
            if res is None or self.algo.greedy_differs:
                self.algo.reset_eval(EVAL_SEED)
                res = evaluate_act_fn(lambda obs: self.algo.eval_act(obs, greedy), self.cfg.env_id,
                                      episodes=self.cfg.eval_episodes, num_envs=self.cfg.num_envs, seed=EVAL_SEED)
            row[f"{prefix}_return"] = res["mean_return"]
            row[f"{prefix}_{'return_ci95' if greedy else 'ci95'}"] = res["return_ci95"]
            row[f"{prefix}_success"] = res["success_rate"]
            if greedy:
                row["eval_turns"] = res["mean_turns"]
        row.update({k: float(np.mean(v)) for k, v in sorted(self.pending.items())})
        self.pending = {}
        self.rows.append(row)
        write_csv_atomic(self.out / "metrics.csv", self.rows)
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("seed",):
                    self.tb.add_scalar(k, v, self.counts.trajectories)
        return row

    def train(self, max_iterations: int | None = None) -> list[dict]:
        """Run to the budget. ``max_iterations``: stop after that many iterations of this call, checkpoint
        and return, as on Ctrl-C (``resume=True`` continues)."""
        cfg = self.cfg
        start_iteration = self.iteration
        bar = tqdm(total=cfg.trajectories, initial=self.counts.trajectories, unit="traj",
                   desc=f"{cfg.algo} seed {cfg.seed}", disable=not self.progress, dynamic_ncols=True)
        with _StopFlag() as stop:
            if not self.rows:
                self._eval_and_save(bar)
            while self.counts.trajectories < cfg.trajectories and not stop.set:
                t0 = time.perf_counter()
                n = min(cfg.rollout_trajectories, cfg.trajectories - self.counts.trajectories)
                base = cfg.seed * 10_000_000 + self.counts.trajectories
                res = collect(self.venv, self.algo.act, [EpisodeSpec(seed=base + i) for i in range(n)],
                              env_id=cfg.env_id, policy_name=cfg.algo)
                if self.buffer is not None:
                    self.buffer.add_episodes(res.episodes)
                stats = self.algo.update(res.episodes, self.buffer, self.iteration)
                self.iteration += 1
                self.counts.add(res.counts)
                self.seconds += time.perf_counter() - t0
                self.pending.setdefault("train_return", []).append(float(np.mean([e.ret for e in res.episodes])))
                for k, v in stats.items():
                    if v == v:  # skip NaN (e.g. actor losses during critic warm-up)
                        self.pending.setdefault(k, []).append(float(v))
                bar.update(res.counts.trajectories)
                bar.set_postfix(train=f"{self.pending['train_return'][-1]:.2f}",
                                eval=f"{self.rows[-1]['eval_return']:.2f}")
                if self.counts.trajectories >= self.next_eval or self.counts.trajectories >= cfg.trajectories:
                    self._eval_and_save(bar)
                if max_iterations is not None and self.iteration - start_iteration >= max_iterations:
                    stop.set = True
            if stop.set and self.counts.trajectories < cfg.trajectories:
                self.save()
                if self.progress:
                    print(f"saved {self.ckpt_dir} at {self.counts.trajectories} trajectories; continue with --resume")
        bar.close()
        self.venv.close()
        return self.rows

    def _eval_and_save(self, bar) -> None:
        row = self.evaluate()
        self.next_eval = self.counts.trajectories + self.cfg.eval_every
        self.save()
        bar.set_postfix(eval=f"{row['eval_return']:.2f}")
        # One line per evaluation, also without the progress bar (compare.py keeps it in train.log).
        tqdm.write(f"[{self.cfg.algo} s{self.cfg.seed}] traj {row['trajectories']:>6}  eval {row['eval_return']:7.2f} "
                   f"± {row['eval_return_ci95']:.2f}  success {row['eval_success']:.2f}  "
                   f"sampled {row.get('eval_sampled_return', float('nan')):7.2f}  ({row['seconds']:.0f}s)")


def warm_start_critic(cfg: TrainConfig, learner, actor, sft_dir: Path, progress: bool = False) -> None:
    """The offline critic warm-up on the SFT data set (agents.algos.archer.CriticLearner.warm_start), cached
    under a key of everything it depends on, so every seed of ArCHer and CHAI starts from the same critic."""
    steps = learner.cfg.critic_warmup_steps
    if steps <= 0:
        return
    model = {k: v for k, v in asdict(cfg.model).items() if k != "device"}
    critic_cfg = {k: getattr(learner.cfg, k) for k in ("gamma", "critic_lr", "tau", "batch_size", "max_grad_norm")}
    key = hashlib.sha256(json.dumps([cfg.sft.key(), model, critic_cfg, steps, "sft-data"],
                                    sort_keys=True).encode()).hexdigest()[:16]

    def sft_data() -> ReplayBuffer:  # read only on a cache miss
        buf = ReplayBuffer(learner.cfg.buffer_capacity)
        buf.add_episodes(read_jsonl(sft_dir / "data.jsonl"))
        return buf

    learner.warm_start(sft_data, actor, steps, cache_root() / "critic" / key, progress=progress)


def prepare(cfg: TrainConfig, progress: bool = True) -> None:
    """Build (or find in the cache) what a run starts from: the SFT actor and, for ArCHer and CHAI, the
    warmed-up critic. compare.py calls it once before starting runs in parallel."""
    sft_dir = run_sft(cfg.sft, progress=progress)
    actor = load_sft_actor(sft_dir, cfg.model)
    algo = build_algorithm(cfg.algo, actor, cfg.algorithm_config(), cfg.model, seed=cfg.seed)
    if algo.critic_learner is not None:
        warm_start_critic(cfg, algo.critic_learner, actor, sft_dir, progress)


def _jsonable(cfg: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: CSV only
        return None
    return SummaryWriter(str(out / "tb"))


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> list[dict]:
    return Trainer(cfg, resume=resume, progress=progress).train()
