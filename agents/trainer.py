"""The one outer loop of every algorithm: collect, update, evaluate, log, checkpoint, resume.

Each iteration plays ``rollout_trajectories`` episodes on the train split (as ``rollout_trajectories / G`` groups
of G episodes from the same start when the algorithm asks for episode groups, see ``Trainer.episode_specs``) (one batched generate per
turn over ``num_envs`` envs), adds them to the replay buffer if the algorithm uses one, and calls
``algorithm.update``. Every ``eval_every`` trajectories (and at 0 and at the budget) it evaluates
greedy and sampled acting on the eval split (same targets and seeds for every method), appends a
row to ``metrics.csv`` and writes a checkpoint. Budgets are trajectories; rows also carry env steps,
generated tokens and wall-clock seconds.

Several processes (``accelerate launch --num_processes N -m agents.train ...``, see agents/distributed.py):
each iteration's episodes are dealt round-robin to the ranks (same env seeds as in one process), played with
each rank's own envs and acting stream, all-gathered in memory, and every rank runs the same update on a
shard of each minibatch with gradients averaged; the budget, counts and curves are global, and only the main
process writes files and prints. With one process the loop below is unchanged.

``metrics.csv`` columns: algo, env_id, seed, iteration, trajectories, env_steps, tokens (generated
while training), seconds (training wall-clock, evaluation excluded), train_return (mean over the
iterations since the last row), eval_return / eval_return_ci95 / eval_success / eval_turns / eval_by_target (greedy;
the last a JSON object of the mean return per eval target),
eval_sampled_return / eval_sampled_ci95 / eval_sampled_success (temperature 1), then the
algorithm's update statistics averaged since the last row (losses, advantage, entropy, ...), and where the time went,
cumulative seconds like ``seconds``: rollout_seconds (collecting the training episodes), update_seconds (the
algorithm's updates; seconds = rollout_seconds + update_seconds), eval_seconds (every evaluation so far, this row's
included), and an algorithm's own split of its update where it reports one (ArCHer: critic_seconds, actor_seconds). The same numeric columns
go, against trajectories, to TensorBoard (``tb/``) when it is installed, and to Weights & Biases when asked
(``report_to=("wandb",)``, ``--report-to wandb``; see agents/reporting.py), with the first greedy eval episode of each
evaluation turn by turn (the viewer's table, agents/view.py: utterance, reply, reward and, with a critic, Q, V, A) as
TensorBoard text and a W&B Table under ``episodes/eval_greedy_0``.

Each evaluation also keeps its first ``view_episodes`` greedy and sampled eval episodes, as the episode viewer shows
them (chat text, rewards and, with a critic, Q and V of the critic of that moment), in
``<out>/episodes/eval_<trajectories>.jsonl`` (atomic; agents/view.py ``write_evaluation``). Like ``metrics.csv`` it is
written before the evaluation's checkpoint; ``--resume`` rewrites ``metrics.csv`` from the checkpoint's rows and drops
the episode files of evaluations the checkpoint does not hold (a crash between the two), so a resumed run's files
are its checkpoint's evaluation points; the evaluation played again writes them again.

The run's configuration is agents/config.py; what it starts from (SFT actor, start data, critic warm-up) is
agents/start.py; where its rows go (CSV, TensorBoard, W&B) is agents/reporting.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import gymnasium as gym

from archer_gym import make_vec
from archer_gym.evaluation import EVAL_SEED, summarize
from agents import distributed as dist
from agents.algos import build_algorithm, spec
from agents.buffer import ReplayBuffer
from agents.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from agents.config import TrainConfig, group_size, jsonable, run_config_json
from agents.evaluate import eval_specs
from agents.models import autocast
from agents.reporting import REPORT_TO, log_episode, tensorboard_writer, wandb_run, write_csv_atomic
from agents.rollout import Counts, EpisodeSpec, collect
from agents.sft import load_sft_actor, run_sft, sft_episodes
from agents.start import warm_start_critic
from agents.view import algorithm_views, drop_evaluations, write_evaluation

RANK_SEED_OFFSET = 1_000_003  # rank r > 0 acts (and samples eval) with streams seeded seed + r * this


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
    def __init__(self, cfg: TrainConfig, *, resume: bool = False, progress: bool = True, report_to=()):
        unknown = sorted(set(report_to) - set(REPORT_TO))
        if unknown:
            raise ValueError(f"report_to {unknown}: choose from {list(REPORT_TO)}")
        # Several processes only when a launcher (accelerate launch / torchrun) says so; otherwise a no-op.
        self.world = dist.init(cpu=cfg.model.torch_device().type == "cpu")
        self.rank = dist.rank()
        self.main = self.rank == 0
        self.cfg, self.progress = cfg, progress and self.main
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoint"
        if self.out.exists() and not self.out.is_dir():
            raise NotADirectoryError(f"--out {self.out} is a file, not a directory; choose another --out")
        ckpt = find_checkpoint(self.ckpt_dir)  # checkpoint/, or checkpoint.old/ after a crash mid-swap
        if ckpt is not None and not resume:
            raise FileExistsError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        if resume and ckpt is None:
            # Never start over silently where a run was: its curve and replay would be overwritten from 0.
            left = [n for n in ("metrics.csv", "buffer.jsonl") if (self.out / n).exists()]
            if left:
                raise FileNotFoundError(f"--resume: {self.out} holds {' and '.join(left)} of a run but no checkpoint/ "
                                        "(nor checkpoint.old/) to continue it from; restore it, or choose another --out")
        if resume and (self.out / "config.json").exists():
            saved = json.loads((self.out / "config.json").read_text())
            saved["out"] = cfg.out  # a run directory that was moved resumes from where it now is
            # Through TrainConfig, so a config.json written before a field existed compares with its default.
            if jsonable(TrainConfig.from_dict(saved)) != jsonable(cfg):
                raise ValueError(f"--resume with a config that differs from {self.out / 'config.json'}; "
                                 "resume with the same arguments (or a new --out)")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        elif self.world > 1 and cfg.model.torch_device().type == "cpu":
            # N processes on one machine's cores: split them instead of oversubscribing.
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        # The main process builds the cached SFT actor; the others read it from the cache.
        self.sft_dir = self._main_first(lambda: run_sft(cfg.sft, progress=self.progress))
        self.actor = load_sft_actor(self.sft_dir, cfg.model)
        acfg = cfg.algorithm_config()
        self.algo = build_algorithm(cfg.algo, self.actor, acfg, cfg.model, seed=cfg.seed,
                                    temperature=cfg.temperature)
        if self.world > 1:  # each rank its own acting stream (rank 0 keeps the single-process one)
            self.algo.gen.manual_seed(cfg.seed + self.rank * RANK_SEED_OFFSET)
        self.spec = spec(cfg.algo)
        self.group_size = group_size(cfg.algo, acfg)
        # Reads the target a group's start seed picks, so the group's episodes can also name it (reset options).
        self.probe_env = gym.make(cfg.env_id, split="train").unwrapped if self.group_size > 1 else None
        self.buffer = None
        if self.spec.uses_buffer:
            capacity = getattr(getattr(acfg, "critic", acfg), "buffer_capacity", None)
            if capacity is None:
                raise TypeError(f"{cfg.algo} uses the replay buffer, so its config needs a buffer_capacity field")
            self.buffer = ReplayBuffer(capacity)
        if self.buffer is not None and cfg.seed_buffer:
            # The scripted episodes the SFT actor was trained on are off-policy data every method was
            # given; an off-policy critic (ArCHer, CHAI) can learn from them, on-policy methods cannot.
            self.buffer.add_episodes(sft_episodes(self.sft_dir))
        self.venv = make_vec(cfg.env_id, cfg.num_envs, split="train")
        self.counts = Counts()
        self.iteration = 0
        self.seconds = 0.0
        self.phase_seconds: dict[str, float] = {}  # cumulative seconds per phase (metrics.csv's *_seconds columns)
        self.rows: list[dict] = []
        self.pending: dict[str, list[float]] = {}
        self.next_eval = 0
        resumed = resume and ckpt is not None
        if resumed:
            self._load()
        elif self.algo.critic_learner is not None:
            self._main_first(lambda: warm_start_critic(cfg, self.algo.critic_learner, self.actor, self.sft_dir,
                                                       self.progress))
        for module in self.algo.modules().values():  # replicas start identical (then identical averaged gradients
            dist.broadcast_module(module)             # keep them so); the identity in one process
        self.rollout_act = self.algo.act
        if cfg.rollout_backend == "vllm":
            from agents.vllm_backend import VLLMRollout  # imported only when asked for

            self.vllm = VLLMRollout(self.algo, cfg)
            self.rollout_act = self.vllm.act
        self.tb = self.wandb = None
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(run_config_json(cfg), indent=2))
            if resumed:
                self._sync_run_files()
            self.tb = tensorboard_writer(self.out)
            if "wandb" in report_to:
                self.wandb = wandb_run(self.out, cfg)
        dist.barrier()

    def _main_first(self, fn):
        """``fn()`` on the main process first, then on the others (which then find its results cached)."""
        if not self.main:
            dist.barrier()
        result = fn()
        if self.main:
            dist.barrier()
        return result

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        state = {"counts": asdict(self.counts), "iteration": self.iteration, "seconds": self.seconds,
                 "phase_seconds": self.phase_seconds,
                 "rows": self.rows, "pending": self.pending, "next_eval": self.next_eval,
                 "algo_rng": self.algo.rng_state()}
        if self.world > 1:  # every rank's own acting stream, so a resumed multi-process run continues them
            state["world_size"] = self.world
            state["rank_algo_rng"] = dist.gather_object(self.algo.rng_state())
        return state

    def save(self) -> None:
        """Main process writes (every rank calls: the state gathers the ranks' random streams)."""
        state = self._state()
        if self.main:
            # The replay lives inside the checkpoint, so it is swapped in atomically with the weights and counters
            # (issue 15: written beside it, a crash mid-save left the next iteration's replay with the previous
            # checkpoint, and the resumed curve departed from the uninterrupted one).
            files = {"buffer.jsonl": self.buffer.save} if self.buffer is not None else {}
            save_checkpoint(self.ckpt_dir, modules=self.algo.modules(), optimizers=self.algo.optimizers(),
                            state=state, files=files)
        # The sampler's kept prefixes (agents.policy.PrefixStore) are not checkpointed: drop them, so the run goes on
        # from here exactly as a run resumed from this checkpoint does (they only spare compute, but which compute,
        # full prefill or reused keys, can move a float's last bits).
        forget = getattr(getattr(self.algo, "actor", None), "forget_prefixes", None)
        if forget is not None:
            forget()
        dist.barrier()

    def _load(self) -> None:
        loaded = {}
        files = {"buffer.jsonl": lambda p: loaded.update(buffer=ReplayBuffer.load(p))} if self.buffer is not None else {}
        state = load_checkpoint(self.ckpt_dir, modules=self.algo.modules(), optimizers=self.algo.optimizers(),
                                files=files)
        self.counts = Counts(**state["counts"])
        self.iteration, self.seconds = state["iteration"], state["seconds"]
        self.phase_seconds = state.get("phase_seconds", {})  # (checkpoints before the phase columns had none)
        self.rows, self.pending, self.next_eval = state["rows"], state["pending"], state["next_eval"]
        self.algo.set_rng_state(state["algo_rng"])
        if self.world > 1:
            saved = state.get("rank_algo_rng") or []
            if len(saved) == self.world:
                self.algo.set_rng_state(saved[self.rank])
            else:  # another world size (or a single-process checkpoint): fresh per-rank acting streams
                if self.main:
                    print(f"note: checkpoint written by {state.get('world_size', 1)} process(es), resumed by "
                          f"{self.world}: acting streams are re-seeded; the curve continues, not bit for bit")
                self.algo.gen.manual_seed(self.cfg.seed + self.iteration + self.rank * RANK_SEED_OFFSET)
        if self.buffer is not None:
            self.buffer = loaded["buffer"]

    def _sync_run_files(self) -> None:
        """On resume, ``metrics.csv`` and ``episodes/`` as of the checkpoint. An evaluation writes both before its
        checkpoint; a crash in between leaves a curve point the checkpoint does not hold (the resumed run plays that
        evaluation again): its row and episode file are dropped now, so a resumed run's directory holds no evaluation
        its checkpoint does not, and every episode file belongs to a row of metrics.csv."""
        if self.rows:
            write_csv_atomic(self.out / "metrics.csv", self.rows)
        drop_evaluations(self.out, keep={row["trajectories"] for row in self.rows})

    # ------------------------------------------------------------------ loop
    def _add_seconds(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds

    def evaluate(self) -> dict:
        started = time.perf_counter()
        row = {"algo": self.cfg.algo, "env_id": self.cfg.env_id, "seed": self.cfg.seed, "iteration": self.iteration,
               **asdict(self.counts), "seconds": round(self.seconds, 2)}
        row["train_return"] = float(np.mean(self.pending.pop("train_return", [float("nan")])))
        modes = [("eval", True)] + ([("eval_sampled", False)] if self.cfg.eval_sampled else [])
        res = None
        views = {}  # acting mode -> the viewer's views of its first eval episodes (episodes/, TensorBoard, W&B)
        for prefix, greedy in modes:
            if res is None or self.algo.greedy_differs:  # (CHAI acts the same either way: its sampled are its greedy)
                res = self._evaluate_mode(greedy)
                # TensorBoard / W&B show the first greedy episode even when no episode file is kept
                keep = self.cfg.view_episodes or int(greedy and (self.tb is not None or self.wandb is not None))
                if self.main and keep:  # replayed for their chat text and scored by the critic of this moment
                    views["greedy" if greedy else "sampled"] = algorithm_views(self.algo, self.cfg.env_id,
                                                                               res["episodes"][:keep])
            row[f"{prefix}_return"] = res["mean_return"]
            row[f"{prefix}_{'return_ci95' if greedy else 'ci95'}"] = res["return_ci95"]
            row[f"{prefix}_success"] = res["success_rate"]
            if greedy:
                row["eval_turns"] = res["mean_turns"]
                row["eval_by_target"] = json.dumps({t: round(v, 3) for t, v in res["per_target"].items()})
        row.update({k: float(np.mean(v)) for k, v in sorted(self.pending.items())})
        self.pending = {}
        self._add_seconds("eval_seconds", time.perf_counter() - started)  # (the viewer files below not counted)
        row.update({k: round(v, 2) for k, v in sorted(self.phase_seconds.items())})
        self.rows.append(row)
        if self.main:
            write_csv_atomic(self.out / "metrics.csv", self.rows)
            if self.cfg.view_episodes:
                write_evaluation(self.out, self.counts.trajectories, self.iteration, views)
        scalars = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("seed",)}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, self.counts.trajectories)
        if self.wandb is not None:
            self.wandb.log(scalars, step=self.counts.trajectories)  # W&B's step: trajectories, as the curves'
        if (self.tb is not None or self.wandb is not None) and views.get("greedy"):
            log_episode(self.tb, self.wandb, "episodes/eval_greedy_0", views["greedy"][0], self.counts.trajectories)
        return row

    def _evaluate_mode(self, greedy: bool) -> dict:
        """Greedy or sampled evaluation on the eval split; several processes split the episodes round-robin
        (greedy episodes do not depend on their batch-mates, so greedy figures equal the single-process ones)."""
        act = lambda obs: self.algo.eval_act(obs, greedy)  # noqa: E731
        with autocast(self.cfg.model):
            self.algo.reset_eval(EVAL_SEED + self.rank * RANK_SEED_OFFSET)  # rank 0: EVAL_SEED, as in one process
            mine = dist.my_share(eval_specs(self.cfg.env_id, self.cfg.eval_episodes, EVAL_SEED))
            venv = make_vec(self.cfg.env_id, max(1, min(self.cfg.num_envs, len(mine))), split="eval")
            res = collect(venv, act, mine, env_id=self.cfg.env_id)
            venv.close()
        episodes = dist.interleave(dist.gather_object(res.episodes))
        out = summarize(episodes)
        out["episodes"] = episodes
        out["tokens"] = sum(len(t.action_ids or []) for e in episodes for t in e.transitions)
        return out

    def episode_specs(self, n: int) -> list[EpisodeSpec]:
        """How this iteration's ``n`` episodes start. Episode ``i`` gets env seed ``seed * 10M + trajectories + i``;
        with episode groups of G, the G episodes of group k all start as episode ``k * G`` would: its seed and,
        named in the reset options, the target that seed picks (``reset(seed=s, options={"target": t})``), so
        they share the start and the hidden target (WebShop: the goal). Groups are consecutive in the returned
        order, and in the ``episodes`` the algorithm's update receives."""
        base = self.cfg.seed * 10_000_000 + self.counts.trajectories
        g = self.group_size
        if g == 1:
            return [EpisodeSpec(seed=base + i) for i in range(n)]
        specs = []
        for k in range(n // g):
            seed = base + k * g
            self.probe_env.reset(seed=seed)
            specs += [EpisodeSpec(seed=seed, options={"target": self.probe_env.target}) for _ in range(g)]
        return specs

    def _collect(self, n: int):
        """This iteration's ``n`` episodes (env seeds from the global count) -> (episodes, Counts), global."""
        specs = self.episode_specs(n)
        with autocast(self.cfg.model):  # one process: my_share, gather_object and interleave are identities
            res = collect(self.venv, self.rollout_act, dist.my_share(specs), env_id=self.cfg.env_id,
                          policy_name=self.cfg.algo)
        gathered = dist.gather_object((res.episodes, asdict(res.counts)))
        counts = Counts()
        for _, c in gathered:
            counts.add(Counts(**c))
        return dist.interleave([eps for eps, _ in gathered]), counts

    def _update(self, episodes) -> dict[str, float]:
        with dist.data_parallel(), autocast(self.cfg.model):
            stats = self.algo.update(episodes, self.buffer, self.iteration)
        # Each rank saw its shard of every minibatch: log the mean over ranks (one rank: its own figures).
        per_rank = dist.gather_object(stats)
        stats = {k: float(np.mean([s[k] for s in per_rank])) for k in stats}
        if self.cfg.rollout_backend == "vllm":
            self.vllm.sync_weights()
        return stats

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
                episodes, counts = self._collect(n)
                if self.buffer is not None:
                    self.buffer.add_episodes(episodes)
                t1 = time.perf_counter()
                stats = self._update(episodes)
                self.iteration += 1
                self.counts.add(counts)
                self.seconds += time.perf_counter() - t0
                self._add_seconds("rollout_seconds", t1 - t0)
                self._add_seconds("update_seconds", time.perf_counter() - t1)
                for k in [k for k in stats if k.endswith("_seconds")]:  # an algorithm's own split of its update
                    self._add_seconds(k, stats.pop(k))
                self.pending.setdefault("train_return", []).append(float(np.mean([e.ret for e in episodes])))
                for k, v in stats.items():
                    if v == v:  # skip NaN (e.g. actor losses during critic warm-up)
                        self.pending.setdefault(k, []).append(float(v))
                bar.update(counts.trajectories)
                bar.set_postfix(train=f"{self.pending['train_return'][-1]:.2f}",
                                eval=f"{self.rows[-1]['eval_return']:.2f}")
                if self.counts.trajectories >= self.next_eval or self.counts.trajectories >= cfg.trajectories:
                    self._eval_and_save(bar)
                if max_iterations is not None and self.iteration - start_iteration >= max_iterations:
                    stop.set = True
                stop.set = any(dist.gather_object(stop.set))  # Ctrl-C reaches ranks at different moments
            if stop.set and self.counts.trajectories < cfg.trajectories:
                self.save()
                if self.progress:
                    print(f"saved {self.ckpt_dir} at {self.counts.trajectories} trajectories; continue with --resume")
        bar.close()
        self.venv.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
        if self.probe_env is not None:
            self.probe_env.close()
        dist.check_replicas(self.algo.modules())  # several processes: the replicas must still agree
        return self.rows

    def _eval_and_save(self, bar) -> None:
        row = self.evaluate()
        self.next_eval = self.counts.trajectories + self.cfg.eval_every
        self.save()
        bar.set_postfix(eval=f"{row['eval_return']:.2f}")
        # One line per evaluation, also without the progress bar (compare.py keeps it in train.log).
        if self.main:
            tqdm.write(f"[{self.cfg.algo} s{self.cfg.seed}] traj {row['trajectories']:>6}  eval {row['eval_return']:7.2f} "
                       f"± {row['eval_return_ci95']:.2f}  success {row['eval_success']:.2f}  "
                       f"sampled {row.get('eval_sampled_return', float('nan')):7.2f}  ({row['seconds']:.0f}s)")


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, report_to=()) -> list[dict]:
    return Trainer(cfg, resume=resume, progress=progress, report_to=report_to).train()
