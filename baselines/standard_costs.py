"""Per-task costs behind the ``standard`` preset's budgets, measured at a small scale and extrapolated.

    ARCHER_GYM_CACHE=/tmp/empty python baselines/standard_costs.py --out costs.jsonl [--tasks maze wordle ...]

For each task, from an empty cache (``$ARCHER_GYM_CACHE``), in one process with one torch thread:

1. the SFT build on ``--sft-episodes`` scripted episodes (data and training timed apart), scaled to the default
   2,000 episodes (both parts are linear in the episodes: data one episode at a time, training 4 epochs over
   their utterances);
2. the start data (the SFT actor's own episodes, for the critic warm-up) on ``--start-episodes``, scaled to the
   default 1,000, and the critic warm-up of ArCHer and of CHAI (their 500 offline steps, not scaled);
3. one training iteration (``rollout_trajectories`` of the quick preset, 64) of ArCHer, CHAI and PPO at their tuned
   settings, the quick preset's train settings otherwise, and one curve-point evaluation (greedy and sampled) of
   ``--eval-episodes`` episodes, timed apart (its seconds per episode).

The SFT actor here is trained on fewer episodes than the default's, so it plays worse and its episodes can be
longer: the start data, iteration and evaluation figures lean high (more turns per episode), never low.
One JSON line per task goes to ``--out`` as soon as the task is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from baselines.presets import PRESETS, TASKS, tuned_algo_args  # noqa: E402

SFT_DEFAULT, START_DEFAULT = 2000, 1000
CLOCK: dict = defaultdict(float)  # function name -> its wall-clock so far (``timed``)


def timed(module, name: str, clock: dict) -> None:
    """Wrap ``module.name`` so its wall-clock adds up in ``clock[name]``."""
    fn = getattr(module, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[name] += time.perf_counter() - t0

    setattr(module, name, wrapper)


def measure(task: str, sft_episodes: int, start_episodes: int, eval_episodes: int, methods: list[str]) -> dict:
    from agents.config import TrainConfig
    from agents.models import ModelConfig
    from agents.sft import SFTConfig
    from agents.start import prepare
    from agents.trainer import Trainer

    train = PRESETS["quick"]["train"]
    start = dict(CLOCK)
    res: dict = {"task": task, "env_id": TASKS[task], "sft_episodes": sft_episodes, "start_episodes": start_episodes,
                 "eval_episodes": eval_episodes, "methods": {}}
    model = ModelConfig(actor=train["actor"], critic=train["critic"], device=train["device"])
    tuned = tuned_algo_args()
    clock = CLOCK
    for i, method in enumerate(methods):
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(algo=method, env_id=TASKS[task], trajectories=train["rollout_trajectories"],
                              rollout_trajectories=train["rollout_trajectories"], num_envs=train["num_envs"],
                              eval_every=train["rollout_trajectories"], eval_episodes=eval_episodes, threads=1,
                              out=out, model=model, start_episodes=start_episodes,
                              algo_config={k: str(v) for k, v in tuned.get(method, {}).items()},
                              sft=SFTConfig(episodes=sft_episodes))
            before = dict(clock)
            t0 = time.perf_counter()
            prepare(cfg, progress=False, critic=True)
            prep = time.perf_counter() - t0
            if i == 0:  # the SFT build happens once per task
                res["sft_data_s"] = clock["generate_rows"] - start.get("generate_rows", 0.0)
                res["sft_train_s"] = clock["train_actor"] - start.get("train_actor", 0.0)
            spent = sum(clock[k] - before.get(k, 0.0) for k in ("generate_rows", "train_actor", "start_data"))
            if clock["start_data"] > before.get("start_data", 0.0):
                res["start_data_s"] = clock["start_data"] - before.get("start_data", 0.0)
            m: dict = {"critic_warmup_s": prep - spent}
            t0 = time.perf_counter()
            trainer = Trainer(cfg, progress=False)
            m["trainer_init_s"] = time.perf_counter() - t0
            evals = []
            evaluate = trainer.evaluate

            def timed_eval(evaluate=evaluate, evals=evals):
                t = time.perf_counter()
                row = evaluate()
                evals.append(time.perf_counter() - t)
                return row

            trainer.evaluate = timed_eval
            t0 = time.perf_counter()
            rows = trainer.train()
            m["train_call_s"] = time.perf_counter() - t0
            m["iteration_s"] = trainer.seconds  # one iteration: collect 64 trajectories + update
            m["eval_s"] = evals  # one per curve point (greedy and sampled; CHAI's once)
            m["env_steps"] = int(rows[-1]["env_steps"])
            m["eval_turns"] = float(rows[-1]["eval_turns"])
            res["methods"][method] = m
            print(f"{task} {method}: {json.dumps(m)}", flush=True)
    res["sft_build_s_scaled"] = (res["sft_data_s"] + res["sft_train_s"]) * SFT_DEFAULT / sft_episodes
    res["start_data_s_scaled"] = res.get("start_data_s", float("nan")) * START_DEFAULT / start_episodes
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--methods", nargs="+", default=["archer", "chai", "ppo"])
    p.add_argument("--sft-episodes", type=int, default=150)
    p.add_argument("--sft-episodes-for", nargs="*", default=[], metavar="TASK=N",
                   help="fewer SFT episodes where the scripted data is slow (chess_endgame=50)")
    p.add_argument("--start-episodes", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=32)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    import agents.sft
    import agents.start

    for mod, name in ((agents.sft, "generate_rows"), (agents.sft, "train_actor"), (agents.start, "start_data")):
        timed(mod, name, CLOCK)
    per_task = {k: int(v) for k, v in (x.split("=") for x in a.sft_episodes_for)}
    for task in a.tasks:
        t0 = time.perf_counter()
        res = measure(task, per_task.get(task, a.sft_episodes), a.start_episodes, a.eval_episodes, a.methods)
        res["total_s"] = time.perf_counter() - t0
        with open(a.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
