"""Per-task costs behind the ``standard`` preset's budgets, measured at a small scale and extrapolated.

    ARCHER_GYM_CACHE=/tmp/empty python baselines/standard_costs.py --out costs.jsonl [--tasks maze wordle ...]

For each task, from an empty cache (``$ARCHER_GYM_CACHE``), in one process with one torch thread:

1. the SFT build on ``--sft-episodes`` scripted episodes (data and training timed apart), scaled to the default
   2,000 episodes (both parts are linear in the episodes: data one episode at a time, training 4 epochs over
   their utterances);
2. the start data (the SFT actor's own episodes, for the critic warm-up) on ``--start-episodes``, scaled to the
   default 1,000, and the critic warm-up of ArCHer and of CHAI (``--warmup-steps`` offline steps, scaled to the
   default 500);
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


#: Where each critic method's offline warm-up steps are set (``--warmup-steps``).
WARMUP_FIELD = {"archer": "critic_warmup_steps", "archer_baseline": "critic_warmup_steps",
                "chai": "critic.critic_warmup_steps"}
WARMUP_DEFAULT = 500


def measure(task: str, sft_episodes: int, start_episodes: int, eval_episodes: int, methods: list[str],
            warmup_steps: int = WARMUP_DEFAULT) -> dict:
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
                              algo_config={**{k: str(v) for k, v in tuned.get(method, {}).items()},
                                       **({WARMUP_FIELD[method]: str(warmup_steps)} if method in WARMUP_FIELD
                                          and warmup_steps != WARMUP_DEFAULT else {})},
                              sft=SFTConfig(episodes=sft_episodes))
            before = dict(clock)
            t0 = time.perf_counter()
            prepare(cfg, progress=True, critic=True)
            prep = time.perf_counter() - t0
            if i == 0:  # the SFT build happens once per task
                res["sft_data_s"] = clock["generate_rows"] - start.get("generate_rows", 0.0)
                res["sft_train_s"] = clock["train_actor"] - start.get("train_actor", 0.0)
            spent = sum(clock[k] - before.get(k, 0.0) for k in ("generate_rows", "train_actor", "start_data"))
            if clock["start_data"] > before.get("start_data", 0.0):
                res["start_data_s"] = clock["start_data"] - before.get("start_data", 0.0)
            m: dict = {"critic_warmup_s": prep - spent, "warmup_steps": warmup_steps,
                   "critic_warmup_s_scaled": (prep - spent) * WARMUP_DEFAULT / warmup_steps}
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


#: Training seconds of the other default methods' runs against PPO's, from the quick preset's committed runs
#: (README, "Comparison": grpo 21, rloo 21, gigpo 21, turn_grpo 17, filtered_bc 13, bc 12 s; PPO 54 s per run of
#: 512 trajectories): each, a fraction of PPO's iteration. Their curve points cost PPO's (greedy and sampled).
LIKE_PPO = {"grpo": 21 / 54, "rloo": 21 / 54, "gigpo": 21 / 54, "turn_grpo": 17 / 54, "filtered_bc": 13 / 54,
            "bc": 12 / 54}
#: CHAI against ArCHer where CHAI was not measured (``--methods archer ppo``, to save time): its iteration and curve
#: point cost these multiples of ArCHer's, the mean over the three tasks measured with both (TwentyQuestionsSubset,
#: TwentyQuestions, GuessMyCity: iteration 1.73, 1.80, 1.98; curve point 2.6, 2.2, 2.6). It shares ArCHer's warm-up.
CHAI_LIKE_ARCHER = {"iteration": 1.85, "eval": 2.5}
#: Seconds a run's process spends starting (imports, loading the SFT actor) beyond what ``Trainer`` measures here.
PROCESS_START_S = 15.0


def project(res: dict, budget: dict, methods: list[str], seeds: int = 3, rollout: int = 64) -> dict:
    """A task's projected CPU-seconds in the standard preset from its measurements ``res`` and its ``budget``
    (trajectories, eval_every, eval_episodes, final_episodes): the start points, every run (iterations, curve points,
    start-up and checkpoints) and the final evaluations. Methods not measured cost PPO's iteration times
    :data:`LIKE_PPO`'s fraction and PPO's curve points."""
    ms = dict(res["methods"])
    if "chai" not in ms and "archer" in ms:
        a = ms["archer"]
        ms["chai"] = {**a, "critic_warmup_s_scaled": 0.0, "iteration_s": a["iteration_s"] * CHAI_LIKE_ARCHER["iteration"],
                      "eval_s": [x * CHAI_LIKE_ARCHER["eval"] for x in a["eval_s"]]}
    iterations = budget["trajectories"] // rollout
    points = budget["trajectories"] // budget["eval_every"] + 1  # compare's curve: at 0, every eval_every, the end
    start = res["sft_build_s_scaled"]
    if any(m in WARMUP_FIELD for m in methods):
        start += res["start_data_s_scaled"] + sum(ms[m]["critic_warmup_s_scaled"] for m in methods
                                                  if m in WARMUP_FIELD and m in ms)
    runs = finals = 0.0
    for m in methods:
        meas = ms.get(m) or ms["ppo"]
        it = meas["iteration_s"] if m in ms else ms["ppo"]["iteration_s"] * LIKE_PPO[m]
        per_point = sum(meas["eval_s"]) / len(meas["eval_s"]) * budget["eval_episodes"] / res["eval_episodes"]
        overhead = meas["train_call_s"] - meas["iteration_s"] - sum(meas["eval_s"]) + meas["trainer_init_s"]
        runs += seeds * (iterations * it + points * per_point + overhead + PROCESS_START_S)
        # A final evaluation is sampled only: half a curve point's episodes-worth (CHAI's one mode: all of it).
        per_episode = sum(meas["eval_s"]) / len(meas["eval_s"]) / res["eval_episodes"] / (1 if m == "chai" else 2)
        finals += seeds * (budget["final_episodes"] * per_episode + PROCESS_START_S)
    ppo = ms["ppo"]
    finals += budget["final_episodes"] * sum(ppo["eval_s"]) / len(ppo["eval_s"]) / res["eval_episodes"] / 2
    # compare.py builds the SFT actor first, alone; the critic warm-up then builds in one slot while runs use the other.
    sft = res["sft_build_s_scaled"]
    return {"start_s": start, "runs_s": runs, "finals_s": finals, "cpu_s": start + runs + finals,
            "wall_s_2_jobs": sft + (start - sft + runs + finals) / 2}


def report(path: str, methods: list[str]) -> str:
    """The measurements in ``path`` (one JSON line per task) and the standard preset's projection, as markdown."""
    from baselines.presets import STANDARD_BUDGETS

    rows = [json.loads(line) for line in open(path)]
    lines = ["| task | SFT data (s / episode) | SFT build, 2,000 episodes (s) | start data, 1,000 episodes (s) | "
             "critic warm-up ArCHer / CHAI (s) | iteration of 64: ArCHer / CHAI / PPO (s) | curve point of 100 "
             "episodes: ArCHer / CHAI / PPO (s) | eval turns |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = r["methods"]
        point = {m: sum(v["eval_s"]) / len(v["eval_s"]) * 100 / r["eval_episodes"] for m, v in ms.items()}
        warm = " / ".join("%.0f" % ms[m]["critic_warmup_s_scaled"] for m in ("archer", "chai") if m in ms)
        its = " / ".join("%.1f" % ms[m]["iteration_s"] for m in ("archer", "chai", "ppo") if m in ms)
        pts = " / ".join("%.0f" % point[m] for m in ("archer", "chai", "ppo") if m in ms)
        lines.append(f"| {r['task']} | {r['sft_data_s'] / r['sft_episodes']:.3f} | {r['sft_build_s_scaled']:.0f} | "
                     f"{r['start_data_s_scaled']:.0f} | {warm} | {its} | {pts} | {ms['ppo']['eval_turns']:.1f} |")
    lines += ["", "| task | budget (trajectories) | eval every | eval episodes | final episodes | start points (s) | "
              "runs (s) | final evals (s) | CPU (s) | wall-clock on 2 cores (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    total = {"cpu_s": 0.0, "wall_s_2_jobs": 0.0}
    for r in rows:
        b = STANDARD_BUDGETS.get(r["task"])
        if b is None:
            continue
        pr = project(r, b, methods)
        for k in total:
            total[k] += pr[k]
        lines.append(f"| {r['task']} | {b['trajectories']} | {b['eval_every']} | {b['eval_episodes']} | "
                     f"{b['final_episodes']} | {pr['start_s']:.0f} | {pr['runs_s']:.0f} | {pr['finals_s']:.0f} | "
                     f"{pr['cpu_s']:.0f} | {pr['wall_s_2_jobs']:.0f} |")
    lines.append(f"| **all** | | | | | | | | **{total['cpu_s']:.0f}** | **{total['wall_s_2_jobs']:.0f} "
                 f"({total['wall_s_2_jobs'] / 3600:.1f} h)** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--methods", nargs="+", default=["archer", "chai", "ppo"])
    p.add_argument("--sft-episodes", type=int, default=150)
    p.add_argument("--sft-episodes-for", nargs="*", default=[], metavar="TASK=N",
                   help="fewer SFT episodes where the scripted data is slow (chess_endgame=50)")
    p.add_argument("--start-episodes", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=32)
    p.add_argument("--warmup-steps", type=int, default=WARMUP_DEFAULT,
                   help="the critic warm-up's offline steps, scaled to the default 500 (linear in the steps)")
    p.add_argument("--out", required=True, help="the JSON lines file the measurements are appended to")
    p.add_argument("--report", action="store_true",
                   help="measure nothing: print --out's measurements and the standard preset's projection (markdown)")
    a = p.parse_args(argv)
    if a.report:
        from baselines.presets import default_methods

        print(report(a.out, default_methods()))
        return 0
    import torch

    torch.set_num_threads(1)
    import agents.sft
    import agents.start

    for mod, name in ((agents.sft, "generate_rows"), (agents.sft, "train_actor"), (agents.start, "start_data")):
        timed(mod, name, CLOCK)
    per_task = {k: int(v) for k, v in (x.split("=") for x in a.sft_episodes_for)}
    for task in a.tasks:
        t0 = time.perf_counter()
        res = measure(task, per_task.get(task, a.sft_episodes), a.start_episodes, a.eval_episodes, a.methods,
                      a.warmup_steps)
        res["total_s"] = time.perf_counter() - t0
        with open(a.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
