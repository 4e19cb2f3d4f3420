"""Fair side-by-side comparisons: every (task, method, seed) on an equal trajectory budget.

    python baselines/compare.py                     # preset "quick": CPU, tiny models, ~40 minutes on 2 cores
    python baselines/compare.py --preset paper --tasks twenty_questions guess_my_city --device cuda
    python baselines/compare.py --methods archer ppo --seeds 0 1 2 3 4 --trajectories 20000 --out results/mine
    python baselines/compare.py --plugin examples/reinforce.py --methods ppo reinforce   # your own algorithm
    python baselines/compare.py --prompted Qwen/Qwen2.5-1.5B-Instruct --prompted-base-url http://127.0.0.1:8000/v1
    python baselines/compare.py --preset standard --out docs/results/standard   # every task; then, in pieces:
    python baselines/compare.py --preset standard --out docs/results/standard --resume [--tasks maze wordle]

Every run starts from the same SFT checkpoint, evaluates on the same eval-split targets and seeds, and
stops at the same budget. Runs go to parallel processes (``--jobs``); a finished run is skipped and a
half-finished one resumes from its checkpoint, so an interrupted comparison continues where it was.
After the runs, each final actor and the SFT start are evaluated again over ``--final-episodes`` sampled
episodes (the preset's: 500 for quick; ``python -m agents.evaluate``), because a curve point's 100 episodes
leave a standard error of about 0.6 return units on Twenty Questions; the table reports both.
``--prompted MODEL`` adds a model behind an OpenAI-compatible endpoint, prompted and not trained
(``archer_gym.llm_agent``), as a reference beside the scripted expert and random: it plays the same eval starts
once per task, before the runs (a bad endpoint fails at once), and its result is kept for reruns.
Writes into ``--out``: ``metrics.csv`` (all runs, long format), ``summary.md``, ``curves.png`` and
``config.json``, ``final_eval_<N>.json`` beside each run, and ``prompted_<model>_<task>_<N>.json``. A preset with an
overview (``standard``) adds to ``summary.md`` the normalised scores of every method on every task, one figure panel
per task and what produced them, and writes ``final_evals.csv`` and ``sessions.json``; :func:`recompute` rebuilds a
summary from those files alone (the consistency check in tests/test_standard.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import numpy as np  # noqa: E402

from archer_gym.cli import ArgumentParser, nonnegative_int, positive_int  # noqa: E402
from baselines import presets  # noqa: E402
from baselines.presets import PRESETS, TASKS  # noqa: E402

# Two-sided 95% Student-t critical values by degrees of freedom (seeds - 1); 1.96 beyond 30.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    if df < 1:
        return float("nan")
    keys = [k for k in sorted(_T95) if k <= df]
    return _T95[keys[-1]] if df <= 30 else 1.96


def mean_ci(values) -> tuple[float, float]:
    """Mean over seeds and the half-width of its 95% Student-t interval (nan with one seed)."""
    x = np.asarray([v for v in values if v == v], dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float("nan")
    return float(x.mean()), float(t95(x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


# --------------------------------------------------------------------------------------------- planning
#: The prompted reference's episodes per task unless --prompted-episodes says otherwise: as many as a curve point.
PROMPTED_EPISODES = 100


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python baselines/compare.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--tasks", nargs="+", default=None, help=f"any of: {', '.join(TASKS)}")
    p.add_argument("--methods", nargs="+", default=None,
                   help="any registered algorithm (python -m agents.train --help lists them; default: the preset's)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import this file or module first (it registers an algorithm); passed on to every run")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--trajectories", type=positive_int, default=None, help="budget per run, in trajectories")
    p.add_argument("--device", default=None, help="cpu | cuda | auto (overrides the preset)")
    p.add_argument("--jobs", type=positive_int, default=None, help="parallel runs (default: CPU cores, max 8; 1 on cuda)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per run")
    p.add_argument("--out", default=None, help="results directory (default results/<preset>)")
    p.add_argument("--final-episodes", type=nonnegative_int, default=None,
                   help="sampled eval episodes of each run's final actor and of the SFT start, after the runs "
                        "(python -m agents.evaluate; default: the preset's; 0: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue the comparison in --out (its config.json): finished runs are skipped, half-finished "
                        "ones continue from their checkpoints; with --tasks, only those tasks run now and the report "
                        "covers the whole saved plan (cells not run yet say so), so a long preset runs in pieces")
    p.add_argument("--no-progress", action="store_true")
    llm = p.add_argument_group("a prompted LLM as a reference (not trained; archer_gym/llm_agent.py)")
    llm.add_argument("--prompted", default=None, metavar="MODEL",
                     help="the model name an OpenAI-compatible endpoint serves: it plays each task's eval starts, "
                          "prompted with the chat messages, and is reported beside the expert and random")
    llm.add_argument("--prompted-base-url", default=None, metavar="URL",
                     help="its endpoint, e.g. http://127.0.0.1:8000/v1 (default: the openai client's, $OPENAI_BASE_URL)")
    llm.add_argument("--prompted-api-key-env", default=None, metavar="VAR",
                     help="environment variable holding its API key (default: $OPENAI_API_KEY, else a dummy key "
                          "local servers accept); the key is never written")
    llm.add_argument("--prompted-episodes", type=positive_int, default=None, metavar="N",
                     help=f"its episodes per task (default {PROMPTED_EPISODES}: as a curve point)")
    return p


def prompted_plan(args) -> dict | None:
    """The prompted LLM reference's settings from ``--prompted*``, validated; None without ``--prompted``. Holds the
    name of the key's variable (``api_key_env``), never the key."""
    given = [flag for flag, value in (("--prompted-base-url", args.prompted_base_url),
                                      ("--prompted-api-key-env", args.prompted_api_key_env),
                                      ("--prompted-episodes", args.prompted_episodes)) if value is not None]
    if args.prompted is None:
        if given:
            raise SystemExit(f"error: {given[0]} needs --prompted MODEL (the model name the endpoint serves)")
        return None
    if not args.prompted.strip():
        raise SystemExit("error: --prompted needs a model name (the one the endpoint serves), got ''")
    try:
        import openai  # noqa: F401
    except ImportError:
        raise SystemExit("error: --prompted needs the openai client: pip install 'archer-gym[oracles]'") from None
    var = args.prompted_api_key_env
    if var is not None and not os.environ.get(var):
        raise SystemExit(f"error: --prompted-api-key-env {var}: that environment variable is not set")
    return {"model": args.prompted, "base_url": args.prompted_base_url, "api_key_env": var,
            "episodes": args.prompted_episodes or PROMPTED_EPISODES}


def plan(args) -> dict:
    """Validate every argument and return the full plan, before any work starts."""
    if args.preset not in PRESETS:
        raise SystemExit(f"error: unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)}")
    pre = PRESETS[args.preset]
    tasks = args.tasks or pre["tasks"]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise SystemExit(f"error: unknown task(s) {bad}; choose from: {', '.join(TASKS)}")
    from agents.algos import load_plugins

    try:
        load_plugins(args.plugin)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    plugins = [str(Path(x).resolve()) if x.endswith(".py") else x for x in args.plugin]
    prompted = prompted_plan(args)
    methods = args.methods or pre["methods"] or presets.default_methods()
    known = presets.methods()
    bad = [m for m in methods if m not in known]
    if bad:
        raise SystemExit(f"error: unknown method(s) {bad}; choose from: {', '.join(known)} "
                         "(or register your own with --plugin FILE.py)")
    seeds = args.seeds if args.seeds is not None else pre["seeds"]
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"error: --seeds must be distinct integers, got {seeds}")
    budget = args.trajectories if args.trajectories is not None else pre["trajectories"]
    # A preset may give each task its own budget ("task_trajectories"); --trajectories sets every task's.
    task_budget = {t: budget if args.trajectories is not None else pre.get("task_trajectories", {}).get(t, budget)
                   for t in tasks}
    train = dict(pre["train"])
    if args.device:
        train["device"] = args.device
    runs = []
    gamma_field = presets.gamma_field()
    for task in tasks:
        t_train = {**train, **pre.get("task_train", {}).get(task, {})}
        budget = task_budget[task]
        if budget < t_train["rollout_trajectories"]:
            raise SystemExit(f"error: --trajectories {budget} is smaller than one iteration "
                             f"({t_train['rollout_trajectories']} trajectories) for {task}")
        for method in methods:
            algo_args = dict(pre["algo_args"].get(method, {}))
            for k, v in pre["task_algo_args"].get(task, {}).items():
                if k == "gamma" and method in gamma_field:
                    algo_args[gamma_field[method]] = v
            for seed in seeds:
                runs.append({"task": task, "env_id": TASKS[task], "method": method, "seed": seed,
                             "trajectories": budget, "train": t_train, "algo_args": algo_args})
                if plugins:  # only then: the runs of a plan without plugins keep their form (and config.json)
                    runs[-1]["plugins"] = plugins
    out = Path(args.out or f"results/{args.preset}")
    jobs = args.jobs or (1 if str(train["device"]).startswith("cuda") else min(8, os.cpu_count() or 1))
    if jobs < 1:
        raise SystemExit(f"error: --jobs must be >= 1, got {jobs}")
    final_episodes = args.final_episodes if args.final_episodes is not None else pre.get("final_episodes", 0)
    budget = args.trajectories if args.trajectories is not None else pre["trajectories"]
    p = {"preset": args.preset, "tasks": tasks, "methods": methods, "seeds": seeds, "trajectories": budget,
         "jobs": jobs, "threads": args.threads, "out": str(out), "runs": runs, "final_episodes": final_episodes}
    if prompted:  # only then: a plan without it keeps its form (and config.json)
        p["prompted"] = prompted
    # Only for presets that have them, so the other presets' plans (and config.json) keep their form.
    if "task_trajectories" in pre:
        p["task_trajectories"] = task_budget
    if "task_final_episodes" in pre and args.final_episodes is None:
        p["task_final_episodes"] = {t: pre["task_final_episodes"].get(t, final_episodes) for t in tasks}
    if pre.get("overview"):
        p["overview"] = True
    return p


def final_episodes_of(p: dict, task: str) -> int:
    """The many-episode final evaluation's episodes for ``task``: the preset's per-task figure, else the plan's."""
    return p.get("task_final_episodes", {}).get(task, p.get("final_episodes", 0))


def budget_of(p: dict, task: str) -> int:
    """``task``'s budget in trajectories per run."""
    return p.get("task_trajectories", {}).get(task, p["trajectories"])


def resumed_plan(p: dict, cfg_path: Path) -> dict:
    """``--resume``: the plan saved in ``cfg_path``, which ``p`` (this invocation's) must be part of: the same runs,
    or, with ``--tasks``, some of them (a piece of a long preset). Returns the saved plan (the report covers it whole,
    from the results directory it now lives in)."""
    if not cfg_path.exists():
        raise SystemExit(f"error: --resume: {cfg_path} does not exist, so there is no comparison to continue; "
                         "drop --resume to start one (or give the --out it was written to)")
    saved = json.loads(cfg_path.read_text())
    extra = [r for r in p["runs"] if r not in saved["runs"]]
    if extra:
        r = extra[0]
        raise SystemExit(f"error: --resume: {len(extra)} run(s) of this plan are not in {cfg_path}'s (the first: "
                         f"{r['task']}/{r['method']}/seed{r['seed']}, {r['trajectories']} trajectories); resume with "
                         "the arguments that made it (preset, methods, seeds, budget), or choose another --out")
    return {**saved, "out": p["out"]}


def record_session(out: Path, started: float, p: dict) -> None:
    """Append this invocation's wall-clock, commit and machine to ``<out>/sessions.json``: a preset run in pieces
    reports the sum, and every commit that took part."""
    path = out / "sessions.json"
    sessions = json.loads(path.read_text()) if path.exists() else []
    sessions.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                     "seconds": round(time.time() - started, 1), "tasks": p["tasks"], "commit": git_commit(),
                     "hardware": hardware(), "jobs": p["jobs"], "threads": p["threads"]})
    path.write_text(json.dumps(sessions, indent=2))


def git_commit() -> str:
    """The checkout's short commit, with ``+dirty`` when tracked files were changed ("unknown" outside git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def hardware() -> str:
    """The CPU model and core count (and the torch device the runs used is in the plan)."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    import platform

    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def run_dir(out: Path, run: dict) -> Path:
    """``<out>/runs/<task>/<method or variant>/seed<N>`` (a sweep's runs carry a ``variant`` name)."""
    return out / "runs" / run["task"] / run.get("variant", run["method"]) / f"seed{run['seed']}"


def run_config(run: dict, out: Path, threads: int):
    """The run's ``agents.config.TrainConfig``: the plan's settings as one config object (its ``algo_args`` as the
    algorithm's overrides), which the run's process reads whole (``python -m agents.train --config``)."""
    from agents.config import TrainConfig
    from agents.models import ModelConfig

    t = run["train"]
    return TrainConfig(algo=run["method"], env_id=run["env_id"], trajectories=run["trajectories"], seed=run["seed"],
                       out=str(run_dir(out, run)), rollout_trajectories=t["rollout_trajectories"],
                       num_envs=t["num_envs"], eval_every=t["eval_every"], eval_episodes=t["eval_episodes"],
                       threads=threads, model=ModelConfig(actor=t["actor"], critic=t["critic"], device=t["device"]),
                       algo_config={k: str(v) for k, v in run["algo_args"].items()}, plugins=list(run.get("plugins", [])))


def command(run: dict, out: Path, threads: int) -> list[str]:
    """``python -m agents.train --config <run dir>/launch.json`` (written here: :func:`run_config` as JSON), with
    ``--resume`` when the run has a checkpoint to continue."""
    from agents.config import jsonable

    d = run_dir(out, run)
    d.mkdir(parents=True, exist_ok=True)
    (d / "launch.json").write_text(json.dumps(jsonable(run_config(run, out, threads)), indent=2))
    cmd = [sys.executable, "-m", "agents.train", "--config", str(d / "launch.json"), "--no-progress"]
    if (d / "checkpoint").exists():
        cmd.append("--resume")
    return cmd


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def progress_of(out: Path, run: dict) -> int:
    rows = read_rows(run_dir(out, run) / "metrics.csv")
    return int(rows[-1]["trajectories"]) if rows else 0


def finished(out: Path, run: dict) -> bool:
    return progress_of(out, run) >= run["trajectories"]


# --------------------------------------------------------------------------------------------- running
def needs_critic(method: str) -> bool:
    """The method's runs start from the cached critic warm-up (agents.start.warm_start_critic)."""
    from agents.algos import spec

    return spec(method).critic_warmup


def start_key(run: dict) -> int:
    """Sort key of the pool's queue, slowest method first (the registry's ``cost``), so no long run is left alone
    at the end."""
    from agents.algos import spec

    return -spec(run["method"]).cost


def prepare_starts(p: dict, critic: bool, progress: bool = True) -> None:
    """Build each task's SFT actor (``critic=False``) or the critic methods' warmed-up critic (``critic=True``)
    once, before the runs that need it (parallel runs would all build the same cached artefacts at once)."""
    from agents.start import prepare

    done = set()
    for r in p["runs"]:
        if r["task"] in done or (critic and not needs_critic(r["method"])):
            continue
        done.add(r["task"])
        if progress:
            print(f"start point for {r['task']} ({'critic warm-up' if critic else 'SFT actor'}; cached after the "
                  "first build) ...", flush=True)
        cfg = run_config(r, Path(p["out"]), p["threads"])
        prepare(cfg, progress=progress and not critic, critic=critic)


class Background(threading.Thread):
    """``fn()`` in a thread; ``check()`` re-raises its exception in the caller."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.error = fn, None

    def run(self):
        try:
            self.fn()
        except BaseException as e:  # noqa: BLE001 (handed to the main thread)
            self.error = e

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"building the critic warm-up failed: {self.error}") from self.error


def next_run(queue: list[dict], critic_ready: bool) -> dict | None:
    """The first queued run that can start now (critic methods wait for the warm-up), or None."""
    for r in queue:
        if critic_ready or not needs_critic(r["method"]):
            queue.remove(r)
            return r
    return None


def execute(p: dict, progress: bool = True) -> None:
    """Run every unfinished run, ``p["jobs"]`` subprocesses at a time. The SFT actors are built first; the critic
    warm-up then builds in a background thread (one slot) while the runs that do not need it start."""
    out = Path(p["out"])
    todo = [r for r in p["runs"] if not finished(out, r)]
    skipped = len(p["runs"]) - len(todo)
    if skipped:
        print(f"{skipped} finished run(s) skipped (delete {out / 'runs'} to redo them)")
    if not todo:
        return
    pending = {**p, "runs": todo}  # start points only for the tasks with runs left (a resumed preset's later pieces)
    prepare_starts(pending, critic=False, progress=progress)
    warm = None
    if any(needs_critic(r["method"]) for r in todo):
        import torch

        torch.set_num_threads(p["threads"])  # as each run's own process (reproducible warm-up)
        warm = Background(lambda: prepare_starts(pending, critic=True, progress=False))
        warm.start()
    from tqdm import tqdm

    total = sum(r["trajectories"] for r in p["runs"])
    bar = tqdm(total=total, unit="traj", desc=f"compare ({len(p['runs'])} runs)", disable=not progress)
    bar.update(sum(progress_of(out, r) for r in p["runs"]))
    env = {**os.environ, "OMP_NUM_THREADS": str(p["threads"]), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    running: list[tuple[dict, subprocess.Popen]] = []
    failures = []
    queue = sorted(todo, key=start_key)
    if warm is not None:
        tqdm.write("building the critic warm-up in the background; runs that do not need it start now")
    try:
        while queue or running:
            if warm is not None:
                warm.check()
            warming = warm is not None and warm.is_alive()
            while queue and len(running) < p["jobs"] - int(warming):
                r = next_run(queue, critic_ready=not warming)
                if r is None:
                    break
                d = run_dir(out, r)
                d.mkdir(parents=True, exist_ok=True)
                log = open(d / "train.log", "a")
                running.append((r, subprocess.Popen(command(r, out, p["threads"]), stdout=log, stderr=subprocess.STDOUT, env=env)))
            time.sleep(2.0)
            for r, proc in list(running):
                if proc.poll() is not None:
                    running.remove((r, proc))
                    if proc.returncode != 0:
                        failures.append((r, proc.returncode))
                        tqdm.write(f"FAILED {r['task']}/{r['method']}/seed{r['seed']} (exit {proc.returncode}); "
                                   f"see {run_dir(out, r) / 'train.log'}")
            done = sum(progress_of(out, r) for r in p["runs"])
            bar.update(done - bar.n)
            bar.set_postfix(running=len(running), queued=len(queue))
    except KeyboardInterrupt:
        for _, proc in running:
            proc.send_signal(2)  # the trainer finishes its iteration and checkpoints
        for _, proc in running:
            proc.wait()
        raise SystemExit("interrupted: rerun the same command to continue (finished runs are skipped)")
    finally:
        bar.close()
    if failures:
        raise SystemExit(f"{len(failures)} run(s) failed; rerun to retry them (finished runs are skipped)")


def final_eval_path(out: Path, run: dict | None, task: str, episodes: int) -> Path:
    """Where the precise final evaluation of ``run`` (or, ``run=None``, of ``task``'s SFT start) is kept."""
    d = run_dir(out, run) if run is not None else out / "runs" / task
    return d / f"final_eval_{episodes}.json"


def final_evals(p: dict, progress: bool = True) -> None:
    """``p["final_episodes"]`` sampled eval episodes of every finished run's final actor and of each task's SFT start
    (``python -m agents.evaluate``, ``p["jobs"]`` at a time), each kept as JSON beside its run; done ones are skipped.
    A curve point of 100 episodes has a standard error of about 0.6 on Twenty Questions; 500 give about 0.28."""
    out = Path(p["out"])
    todo = []
    for task in p["tasks"]:
        n = final_episodes_of(p, task)
        if not n:
            continue
        runs = [r for r in p["runs"] if r["task"] == task and finished(out, r)]
        if runs and not final_eval_path(out, None, task, n).exists():
            todo.append((final_eval_path(out, None, task, n), [str(run_dir(out, runs[0])), "--sft-only", "--episodes", str(n)]))
        todo += [(final_eval_path(out, r, task, n), [str(run_dir(out, r)), "--episodes", str(n)]) for r in runs
                 if not final_eval_path(out, r, task, n).exists()]
    if not todo:
        return
    from tqdm import tqdm

    env = {**os.environ, "OMP_NUM_THREADS": str(p["threads"]), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    running: list[tuple[Path, subprocess.Popen]] = []
    failures = []
    counts = sorted({final_episodes_of(p, t) for t in p["tasks"]} - {0})
    with tqdm(total=len(todo), unit="run", desc=f"final evals ({'/'.join(map(str, counts))} episodes)",
              disable=not progress) as bar:
        while todo or running:
            while todo and len(running) < p["jobs"]:
                path, args = todo.pop(0)
                tmp = path.with_name(path.name + ".tmp")
                cmd = [sys.executable, "-m", "agents.evaluate", *args, "--threads",
                       str(p["threads"]), "--json", str(tmp)]
                running.append((path, subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                       text=True)))
            time.sleep(1.0)
            for path, proc in list(running):
                if proc.poll() is None:
                    continue
                running.remove((path, proc))
                bar.update(1)
                if proc.returncode != 0:
                    failures.append(f"{path}: {proc.stderr.read().strip().splitlines()[-1:]}")
                else:
                    os.replace(path.with_name(path.name + ".tmp"), path)
    if failures:
        raise SystemExit(f"{len(failures)} final evaluation(s) failed; rerun to retry: {failures[0]}")


def prompted_path(out: Path, prompted: dict, task: str) -> Path:
    """Where the prompted reference's evaluation on ``task`` is kept: one file per model, task and episode count."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", prompted["model"]).strip("-.") or "model"
    return out / f"prompted_{slug}_{task}_{prompted['episodes']}.json"


def prompted_evals(p: dict, progress: bool = True) -> None:
    """The prompted LLM (``p["prompted"]``) on each task's eval starts (``archer_gym.llm_agent.evaluate_openai``:
    the starts of the scripted references and of every trained actor), each summary kept as JSON in the results
    directory; a kept one is not asked again, so a rerun or a report never calls the endpoint twice. Raises
    ``archer_gym.oracles.llm.OracleError`` (one line) when the endpoint fails after its retries."""
    pp = p.get("prompted")
    if not pp:
        return
    from archer_gym.evaluation import EVAL_SEED
    from archer_gym.llm_agent import AgentConfig, evaluate_openai

    cfg = AgentConfig(model=pp["model"], base_url=pp["base_url"], api_key_env=pp["api_key_env"])
    for task in p["tasks"]:
        path = prompted_path(Path(p["out"]), pp, task)
        if path.exists():
            continue
        summary, _ = evaluate_openai(TASKS[task], cfg, episodes=pp["episodes"], split="eval", seed=EVAL_SEED,
                                     progress=progress)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, path)


def prompted_results(p: dict) -> dict[str, dict]:
    """task -> the kept summary of the prompted reference (tasks not evaluated yet are left out)."""
    pp = p.get("prompted")
    if not pp:
        return {}
    paths = {task: prompted_path(Path(p["out"]), pp, task) for task in p["tasks"]}
    return {task: json.loads(path.read_text()) for task, path in paths.items() if path.exists()}


def prompted_label(result: dict) -> str:
    """How every table and plot names the prompted reference, so no one reads it as a trained method."""
    return f"prompted {result['sampling']['model']} (not trained)"


def read_final_eval(out: Path, run: dict | None, task: str, episodes: int) -> float | None:
    path = final_eval_path(out, run, task, episodes) if episodes else None
    if path is None or not path.exists():
        return None
    return float(json.loads(path.read_text())[-1]["mean_return"])


# --------------------------------------------------------------------------------------------- reporting
def collect_metrics(p: dict) -> list[dict]:
    out = Path(p["out"])
    rows = []
    for r in p["runs"]:
        for row in read_rows(run_dir(out, r) / "metrics.csv"):
            rows.append({"task": r["task"], **row})
    return rows


def _f(row: dict, key: str) -> float:
    try:
        return float(row.get(key, "nan"))
    except (TypeError, ValueError):
        return float("nan")


def reference_returns(tasks: list[str], episodes: int = 200) -> dict[str, dict[str, float]]:
    """The task's scripted expert and random on the eval starts the methods are evaluated on
    (archer_gym.evaluation.eval_starts): the reference lines. Read from the registry
    (``python -m archer_gym reference`` records them) where it holds them for ``episodes``, else measured."""
    import archer_gym
    from archer_gym.evaluation import EVAL_SEED, REFERENCE_POLICIES, measure_reference

    out = {}
    for task in tasks:
        ref = archer_gym.reference(TASKS[task])
        if ref is None or ref["episodes"] != episodes or ref["seed"] != EVAL_SEED:
            ref = measure_reference(TASKS[task], episodes)
        out[task] = {pol: ref[pol]["mean_return"] for pol in REFERENCE_POLICIES}
    return out


#: The curve every table and plot is about: eval return of the policy as trained (sampling at temperature 1),
#: 100 episodes over every eval target. Greedy decoding is reported beside it (GREEDY): it is deterministic
#: per target, so on a 10-word task it is effectively 10 episodes and moves in coarse steps.
METRIC, METRIC_SUCCESS = "eval_sampled_return", "eval_sampled_success"
GREEDY = "eval_return"


def sft_start(rows: list[dict]) -> float:
    """Mean first evaluation of the SFT policy: bc's rows at 0 trajectories when present (CHAI's first
    evaluation is already best-of-k), else every method's."""
    first = [r for r in rows if int(r["trajectories"]) == 0]
    start = [_f(r, METRIC) for r in first if r["algo"] == "bc"] or [_f(r, METRIC) for r in first]
    return float(np.mean(start)) if start else float("nan")


def methods_in(rows: list[dict]) -> list[str]:
    """The methods of ``rows`` in the registry's order (then any unregistered name, in order of appearance)."""
    present = list(dict.fromkeys(r["algo"] for r in rows))
    order = presets.methods()
    return [m for m in order if m in present] + [m for m in present if m not in order]


def summarize(rows: list[dict], refs: dict[str, dict[str, float]], precise: dict | None = None,
              prompted: dict[str, dict] | None = None) -> dict:
    """Per task and method: final eval return (mean, 95% CI over seeds), success, trajectories to threshold,
    greedy return, tokens, wall-clock. The threshold is halfway from the mean starting (SFT) return to the
    expert's. ``precise`` (from :func:`precise_finals`): ``{task: {"start": x, "episodes": n, method: [per seed]}}``,
    the final actors' many-episode evaluations, reported beside the curve's last point. ``prompted`` (from
    :func:`prompted_results`): task -> the prompted LLM's evaluation summary, kept whole as the task's ``prompted``
    (a reference like the expert: it takes no part in the threshold)."""
    precise, prompted = precise or {}, prompted or {}
    out: dict[str, dict] = {}
    for task in sorted({r["task"] for r in rows}):
        trows = [r for r in rows if r["task"] == task]
        start_mean = sft_start(trows)
        expert = refs.get(task, {}).get("expert", float("nan"))
        threshold = start_mean + 0.5 * (expert - start_mean)
        out[task] = {"threshold": threshold, "start": start_mean, "methods": {}}
        if task in prompted:
            out[task]["prompted"] = prompted[task]
        tp = precise.get(task, {})
        if tp.get("start") is not None:
            out[task].update(precise_start=tp["start"], precise_episodes=tp["episodes"])
        for method in methods_in(trows):
            mrows = [r for r in trows if r["algo"] == method]
            seeds = sorted({r["seed"] for r in mrows})
            finals = [max((r for r in mrows if r["seed"] == s), key=lambda r: int(r["trajectories"])) for s in seeds]
            ret, ci = mean_ci(_f(r, METRIC) for r in finals)
            succ, _ = mean_ci(_f(r, METRIC_SUCCESS) for r in finals)
            greedy, greedy_ci = mean_ci(_f(r, GREEDY) for r in finals)
            curve = mean_curve(mrows, METRIC)
            reach = next((int(t) for t, m, _ in curve if m >= threshold), None)
            out[task]["methods"][method] = {
                "seeds": len(seeds), "final_return": ret, "final_return_ci95": ci, "final_success": succ,
                "final_greedy_return": greedy, "final_greedy_ci95": greedy_ci,
                "trajectories_to_threshold": reach, "tokens": float(np.mean([_f(r, "tokens") for r in finals])),
                "seconds": float(np.mean([_f(r, "seconds") for r in finals])),
                "budget": int(max(int(r["trajectories"]) for r in finals)),
            }
            per_seed = tp.get(method)
            if per_seed and all(x is not None for x in per_seed):
                pm, pci = mean_ci(per_seed)
                out[task]["methods"][method].update(precise_return=pm, precise_ci95=pci, precise_per_seed=per_seed)
            by_target = [json.loads(r["eval_by_target"]) for r in finals if r.get("eval_by_target")]
            if by_target:
                words = sorted({w for d in by_target for w in d})
                out[task].setdefault("greedy_by_target", {})[method] = {
                    w: float(np.mean([d[w] for d in by_target if w in d])) for w in words}
    return out


def mean_curve(rows: list[dict], key: str) -> list[tuple[int, float, float]]:
    """(trajectories, mean over seeds, 95% CI half-width) at each evaluation point."""
    points = sorted({int(r["trajectories"]) for r in rows})
    return [(t, *mean_ci(_f(r, key) for r in rows if int(r["trajectories"]) == t)) for t in points]


def summary_markdown(summary: dict, refs: dict, p: dict, overview_lines: list[str] | None = None) -> str:
    """The per-task tables; a preset with an overview (``p["overview"]``) puts ``overview_lines`` (from
    :func:`overview_markdown`) before them."""
    budget = (f"Budget {p['trajectories']} trajectories per run" if "task_trajectories" not in p else
              "Budget per task (the settings table below)")
    lines = [f"# Comparison: preset `{p['preset']}`", "",
             f"{budget}, seeds {p['seeds']}. Eval return: the policy as "
             "trained (sampling at temperature 1) on the eval split, the same targets and seeds for every method; "
             "greedy decoding beside it. 95% CI over seeds (Student t).", ""]
    lines += overview_lines or []
    for task, s in summary.items():
        r = refs.get(task, {})
        lines += [f"## {task} ({TASKS[task]})", "",
                  f"Reference: expert {r.get('expert', float('nan')):.2f}, random {r.get('random', float('nan')):.2f}; "
                  f"SFT start {s['start']:.2f}; threshold (halfway SFT -> expert) {s['threshold']:.2f}.", ""]
        if "prompted" in s:
            lines += [prompted_line(s["prompted"]), ""]
        n = s.get("precise_episodes")
        if n:
            lines += [f"The final actors and the SFT start evaluated again over {n} sampled episodes each (`python -m "
                      f"agents.evaluate`; a curve point has {curve_episodes(p, task)}): SFT start **{s['precise_start']:.2f}**. "
                      "Per seed, and the mean with its 95% CI over seeds:", ""]
        precise = n and any("precise_return" in v for v in s["methods"].values())
        extra = (f" final, {n} episodes | 95% CI | per seed |", "---|---|---|") if precise else ("", "")
        lines += ["| method | final eval return | 95% CI |" + extra[0] + " success | trajectories to threshold | "
                  "greedy return | generated tokens | wall-clock (s) |",
                  "|---|---|---|" + extra[1] + "---|---|---|---|---|"]
        for m, v in s["methods"].items():
            reach = str(v["trajectories_to_threshold"]) if v["trajectories_to_threshold"] is not None else f"> {v['budget']}"
            ci = f"± {v['final_return_ci95']:.2f}" if v["final_return_ci95"] == v["final_return_ci95"] else "n/a"
            gci = f" ± {v['final_greedy_ci95']:.2f}" if v["final_greedy_ci95"] == v["final_greedy_ci95"] else ""
            cols = ""
            if precise:
                if "precise_return" in v:
                    pci = f"± {v['precise_ci95']:.2f}" if v["precise_ci95"] == v["precise_ci95"] else "n/a"
                    cols = (f" **{v['precise_return']:.2f}** | {pci} | "
                            f"{', '.join(f'{x:.2f}' for x in v['precise_per_seed'])} |")
                else:
                    cols = " | | |"
            lines.append(f"| {m} | {v['final_return']:.2f} | {ci} |{cols} {v['final_success']:.2f} | {reach} | "
                         f"{v['final_greedy_return']:.2f}{gci} | {v['tokens']:.0f} | {v['seconds']:.0f} |")
        lines.append("")
        per_word = s.get("greedy_by_target", {})
        if per_word:
            words = sorted({w for v in per_word.values() for w in v})
            lines += ["Greedy decoding per eval target (final evaluation, mean over seeds): on a deterministic oracle a "
                      "greedy policy plays one episode per target, so its mean return is made of these.", "",
                      "| method | " + " | ".join(words) + " |", "|---|" + "---|" * len(words)]
            for m, v in per_word.items():
                lines.append(f"| {m} | " + " | ".join(f"{v[w]:.1f}" if w in v else "" for w in words) + " |")
            lines.append("")
    return "\n".join(lines)


def curve_episodes(p: dict, task: str) -> int:
    """The episodes of one of ``task``'s curve points (its runs' ``eval_episodes``; 100, the presets', if unknown)."""
    return next((r["train"]["eval_episodes"] for r in p.get("runs", []) if r["task"] == task), 100)


def prompted_line(result: dict) -> str:
    """The summary's line for the prompted reference: its mean return, the 95% CI over its episodes, its success,
    and how it was asked."""
    sampling = result["sampling"]
    where = sampling["base_url"] or "the openai client's default endpoint"
    return (f"**{prompted_label(result)}**: {result['mean_return']:.2f} ± {result['return_ci95']:.2f} (95% CI over its "
            f"{result['episodes']} episodes), success {result['success_rate']:.2f}. `{sampling['model']}` at {where}, "
            f"temperature {sampling['temperature']:g}, max_tokens {sampling['max_tokens']}, prompted with the task's "
            "chat messages (`archer_gym.llm_agent`) on the eval starts every method plays; a reference, not a "
            "trained method.")


def reference_lines(refs: dict[str, float], prompted: dict | None = None) -> list[tuple[str, float, str, str, str]]:
    """A task panel's horizontal lines, ``(label, return, line style, colour, side of the label)``: the scripted
    expert and random, and the prompted LLM's mean return when there is one, labelled as not trained (on the right,
    so it stays readable when it lies near the expert's)."""
    lines = [(f"{name} {refs[name]:.1f}", refs[name], style, "gray", "left")
             for name, style in (("expert", "--"), ("random", ":")) if name in refs]
    if prompted is not None:
        lines.append((f"{prompted_label(prompted)} {prompted['mean_return']:.1f}", prompted["mean_return"], "-.",
                      "black", "right"))
    return lines


def plot_curves(rows: list[dict], refs: dict, path: Path, prompted: dict[str, dict] | None = None) -> None:
    """Per task: eval return against trajectories (each seed a faint line behind the mean and its 95% CI band,
    the expert and random, and the prompted LLM's ``prompted[task]`` where given, as reference lines), and below
    it the policy's token entropy where the method logs it (collapse shows there first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(2, len(tasks), figsize=(7.8 * len(tasks), 7.5), squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]}, sharex="col")
    for col, task in enumerate(tasks):
        ax, ax_ent = axes[0][col], axes[1][col]
        trows = [r for r in rows if r["task"] == task]
        means: list[float] = []
        for i, method in enumerate(methods_in(trows)):
            mrows = [r for r in trows if r["algo"] == method]
            color = f"C{i}"
            for seed in sorted({r["seed"] for r in mrows}):
                srows = sorted((r for r in mrows if r["seed"] == seed), key=lambda r: int(r["trajectories"]))
                ax.plot([int(r["trajectories"]) for r in srows], [_f(r, METRIC) for r in srows], color=color,
                        alpha=0.25, lw=0.8)
            curve = mean_curve(mrows, METRIC)
            means += [c[1] for c in curve]
            x = np.array([c[0] for c in curve])
            y = np.array([c[1] for c in curve])
            h = np.nan_to_num(np.array([c[2] for c in curve]))
            ax.plot(x, y, marker="o", ms=3, label=method, color=color, lw=1.8)
            ax.fill_between(x, y - h, y + h, alpha=0.12, color=color)
            ent = [c for c in mean_curve(mrows, "entropy") if c[1] == c[1]]
            if ent:
                ax_ent.plot([c[0] for c in ent], [c[1] for c in ent], marker=".", color=color, label=method)
        lines = reference_lines(refs.get(task, {}), (prompted or {}).get(task))
        for label, y, style, color, side in lines:
            ax.axhline(y, ls=style, color=color, lw=1)
            ax.annotate(label, (0 if side == "left" else 1, y), xycoords=("axes fraction", "data"), ha=side,
                        fontsize=8, color=color, xytext=(2 if side == "left" else -2, 2), textcoords="offset points")
        # Limits from the means and the reference lines, not the bands: with 3 seeds a t-interval is 2.5
        # standard deviations wide and one diverging seed's band would flatten every other curve.
        ax.set_ylim(*curve_limits(means, {label: y for label, y, *_ in lines}))
        ax.set_title(TASKS[task])
        ax.set_ylabel("eval return (sampled policy)\nmean ± 95% CI; faint: each seed")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax_ent.set_xlabel("trajectories")
        ax_ent.set_ylabel("token entropy\n(mean since last eval)")
        ax_ent.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curve_limits(means: list[float], refs: dict, margin: float = 1.5) -> tuple[float, float]:
    """y-limits of a task's panel: the points of every method's mean curve (nan skipped) and the reference
    returns, plus ``margin``."""
    values = [v for v in [*means, *refs.values()] if v == v]
    if not values:
        return -1.0, 1.0
    return min(values) - margin, max(values) + margin


def write_long_csv(rows: list[dict], path: Path) -> None:
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(rows)


def precise_finals(p: dict) -> dict:
    """Per task: the SFT start's and each method's per-seed many-episode final evaluations (None where missing)."""
    out = Path(p["out"])
    res = {}
    for task in p["tasks"]:
        n = final_episodes_of(p, task)
        if not n:
            continue
        runs = [r for r in p["runs"] if r["task"] == task]
        res[task] = {"start": read_final_eval(out, None, task, n), "episodes": n}
        for method in dict.fromkeys(r["method"] for r in runs):
            res[task][method] = [read_final_eval(out, r, task, n) for r in runs if r["method"] == method]
    return res


# --------------------------------------------------------------------------------------------- overview (standard)
#: The many-episode final evaluations of an overview preset's runs, one row each (method ``sft_start``: the task's SFT
#: start), kept beside metrics.csv so the summary can be recomputed from committed files.
FINAL_EVALS = "final_evals.csv"
SFT_ROW = "sft_start"


def write_final_evals(precise: dict, path: Path) -> None:
    """``precise`` (from :func:`precise_finals`) as CSV: task, method, seed index, episodes, mean_return (``repr``, so
    it reads back to the same float; empty where the run has no final evaluation yet)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "method", "index", "episodes", "mean_return"])
        for task, tp in precise.items():
            if tp.get("start") is not None:
                w.writerow([task, SFT_ROW, "", tp["episodes"], repr(tp["start"])])
            for method, per_seed in tp.items():
                if method in ("start", "episodes"):
                    continue
                for i, x in enumerate(per_seed):
                    w.writerow([task, method, i, tp["episodes"], "" if x is None else repr(x)])


def read_final_evals(path: Path) -> dict:
    """:func:`write_final_evals`'s file back as :func:`precise_finals`' dict (None where a seed's is missing)."""
    res: dict = {}
    for r in read_rows(path):
        tp = res.setdefault(r["task"], {"start": None, "episodes": int(r["episodes"])})
        if r["method"] == SFT_ROW:
            tp["start"] = float(r["mean_return"])
        else:
            seeds = tp.setdefault(r["method"], [])
            i = int(r["index"])
            seeds += [None] * (i + 1 - len(seeds))
            seeds[i] = float(r["mean_return"]) if r["mean_return"] else None
    return res


def read_sessions(out: Path) -> list[dict]:
    path = Path(out) / "sessions.json"
    return json.loads(path.read_text()) if path.exists() else []


def normalise(x: float, random: float, expert: float) -> float:
    """``x`` on the scale random = 0, expert = 100 (nan where the two references coincide or are missing)."""
    if not (random == random and expert == expert) or expert == random:
        return float("nan")
    return 100.0 * (x - random) / (expert - random)


def overview(p: dict, rows: list[dict], refs: dict, precise: dict) -> dict:
    """task -> the normalised final scores of every planned method and of the SFT start (random = 0, expert = 100 from
    the task's scripted references). A method's score per seed is its final actor's many-episode evaluation where
    every finished seed has one, else the curve's last point (``source`` says which); only runs that reached their
    budget count (``seeds`` of ``planned``), so a cell with none is reported as not run. The 95% CI is over the
    normalised per-seed scores (the map is affine, so it is the raw CI times 100 / (expert - random))."""
    res: dict = {}
    for task in p["tasks"]:
        lo, hi = refs.get(task, {}).get("random", float("nan")), refs.get(task, {}).get("expert", float("nan"))
        trows = [r for r in rows if r["task"] == task]
        tp = precise.get(task, {})
        if tp.get("start") is not None:
            start, source = tp["start"], f"final, {tp['episodes']} episodes"
        else:
            start, source = sft_start(trows), "curve at 0 trajectories"
        cell: dict = {"random": lo, "expert": hi, "budget": budget_of(p, task),
                      "start": {"return": start, "score": normalise(start, lo, hi), "source": source}, "methods": {}}
        for method in p["methods"]:
            runs = [r for r in p["runs"] if r["task"] == task and r["method"] == method]
            finals = tp.get(method) or [None] * len(runs)
            done = []  # (final many-episode return or None, curve's last point) of each run at its budget
            for run, final in zip(runs, finals):
                srows = [r for r in trows if r["algo"] == method and str(r["seed"]) == str(run["seed"])]
                last = max(srows, key=lambda r: int(r["trajectories"]), default=None)
                if last is not None and int(last["trajectories"]) >= run["trajectories"]:
                    done.append((final, _f(last, METRIC)))
            use_final = bool(done) and all(f is not None for f, _ in done)
            returns = [f if use_final else c for f, c in done]
            scores = [normalise(x, lo, hi) for x in returns]
            score, ci = mean_ci(scores) if scores else (float("nan"), float("nan"))
            cell["methods"][method] = {
                "seeds": len(done), "planned": len(runs), "score": score, "ci95": ci, "per_seed": scores,
                "returns": returns,
                "source": (f"final, {tp['episodes']} episodes" if use_final else "curve's last point") if done else None}
        res[task] = cell
    return res


def provenance(p: dict, rows: list[dict], sessions: list[dict]) -> dict:
    """What produced the results: the sessions' wall-clock (summed over the pieces of a resumed run), commits and
    machines, and the training seconds of the runs (from metrics.csv: each run's last row)."""
    last: dict = {}
    for r in rows:
        key = (r["task"], r["algo"], r["seed"])
        if key not in last or int(r["trajectories"]) >= int(last[key]["trajectories"]):
            last[key] = r
    return {"sessions": len(sessions), "wall_clock_s": round(sum(s["seconds"] for s in sessions), 1),
            "commits": list(dict.fromkeys(s["commit"] for s in sessions)),
            "hardware": list(dict.fromkeys(s["hardware"] for s in sessions)),
            "jobs": sorted({s["jobs"] for s in sessions}),
            "training_s": round(sum(_f(r, "seconds") for r in last.values()), 1),
            "runs_done": sum(1 for run in p["runs"]
                             if int(last.get((run["task"], run["method"], str(run["seed"])), {"trajectories": 0})
                                    ["trajectories"]) >= run["trajectories"]),
            "runs_planned": len(p["runs"])}


def _score(x: float, ci: float = float("nan")) -> str:
    if x != x:
        return "n/a"
    return f"{x:.0f} ± {ci:.0f}" if ci == ci else f"{x:.0f}"


def overview_markdown(ov: dict, p: dict, refs: dict, prov: dict) -> list[str]:
    """The overview table (methods x tasks, normalised final scores), the settings per task, the figure and the
    provenance: the lines an overview preset's ``summary.md`` starts with."""
    tasks = list(ov)
    lines = ["## Overview: normalised final scores", "",
             "Each task's final eval return mapped to random = 0, expert = 100 (the task's scripted policies on the same "
             "eval starts, 200 episodes: `python -m archer_gym reference`); mean over seeds ± 95% CI (Student t over "
             "the seeds' normalised scores). A method's score per seed is its final actor's many-episode evaluation "
             "(the settings table's final episodes), else (marked †) the curve's last point; the SFT start is where "
             "every method began. A cell with fewer seeds than planned says so; a run not done yet is marked not run.",
             "", "| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks),
             "| expert (scripted) | " + " | ".join("100" for _ in tasks) + " |",
             "| random (scripted) | " + " | ".join("0" for _ in tasks) + " |",
             "| SFT start | " + " | ".join(_score(ov[t]["start"]["score"]) + ("" if ov[t]["start"]["source"].startswith(
                 "final") else " †") for t in tasks) + " |"]
    for method in p["methods"]:
        cells = []
        for t in tasks:
            c = ov[t]["methods"].get(method)
            if c is None or not c["seeds"]:
                cells.append("not run")
                continue
            text = _score(c["score"], c["ci95"])
            if not c["source"].startswith("final"):
                text += " †"
            if c["seeds"] < c["planned"]:
                text += f" ({c['seeds']}/{c['planned']} seeds)"
            cells.append(text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Raw returns behind the scale: " + "; ".join(
        f"{t} expert {ov[t]['expert']:.2f}, random {ov[t]['random']:.2f}, SFT start {ov[t]['start']['return']:.2f}"
        for t in tasks) + ".", "",
        "![eval return against trajectories, one panel per task: mean over seeds, each seed faint; expert, random and "
        "SFT start as lines](curves.png)", "",
        "### Settings per task", "",
        "| task | env id | turn cap | gamma | budget (trajectories) | per iteration | eval every | eval episodes | "
        "final episodes |", "|---|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        run = next((r for r in p["runs"] if r["task"] == t), None)
        if run is None:
            continue
        gammas = sorted({v for r in p["runs"] if r["task"] == t for k, v in r["algo_args"].items()
                         if k.split(".")[-1] == "gamma"})
        tr = run["train"]
        lines.append(f"| {t} | {TASKS[t]} | {turn_cap(TASKS[t])} | {', '.join(map(str, gammas)) or 'default (0.95)'} | "
                     f"{budget_of(p, t)} | {tr['rollout_trajectories']} | {tr['eval_every']} | {tr['eval_episodes']} | "
                     f"{final_episodes_of(p, t)} |")
    hw = "; ".join(prov["hardware"]) or "not recorded"
    lines += ["", "### What produced these results", "",
              f"- Runs at their budget: {prov['runs_done']} of {prov['runs_planned']} ({len(p['methods'])} methods x "
              f"{len(tasks)} tasks x {len(p['seeds'])} seeds), models `{p['runs'][0]['train']['actor']}` actor and "
              f"`{p['runs'][0]['train']['critic']}` critic on `{p['runs'][0]['train']['device']}`." if p["runs"] else
              "- No runs planned.",
              f"- Wall-clock: {prov['wall_clock_s']:.0f} s over {prov['sessions']} session(s) of "
              "`python baselines/compare.py` (start points, runs and final evaluations; the sum of the pieces of a "
              f"resumed run), {', '.join(map(str, prov['jobs'])) or '?'} parallel run(s); training seconds of all runs "
              f"together {prov['training_s']:.0f} s (metrics.csv).",
              f"- Hardware: {hw}.",
              f"- Commit(s): {', '.join(prov['commits']) or 'not recorded'}.", ""]
    return lines


def turn_cap(env_id: str) -> int | str:
    """The registry's turn cap of ``env_id``."""
    from archer_gym.registry import SPECS

    spec = SPECS.get(env_id)
    return spec.max_turns if spec is not None else "?"


def plot_task_panels(rows: list[dict], refs: dict, ov: dict, p: dict, path: Path, ncols: int = 5) -> None:
    """One panel per planned task: each method's mean eval return over seeds against trajectories, each seed faint
    behind it, and the scripted expert and random and the SFT start as horizontal lines; a task without runs yet
    says so in its panel. One legend for the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = p["tasks"]
    ncols = min(ncols, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    colors = {m: f"C{i % 10}" for i, m in enumerate(p["methods"])}
    handles: dict = {}
    for k, task in enumerate(tasks):
        ax = axes[k // ncols][k % ncols]
        trows = [r for r in rows if r["task"] == task]
        means: list[float] = []
        for method in p["methods"]:
            mrows = [r for r in trows if r["algo"] == method]
            if not mrows:
                continue
            for seed in sorted({r["seed"] for r in mrows}):
                srows = sorted((r for r in mrows if r["seed"] == seed), key=lambda r: int(r["trajectories"]))
                ax.plot([int(r["trajectories"]) for r in srows], [_f(r, METRIC) for r in srows], color=colors[method],
                        alpha=0.2, lw=0.7)
            curve = mean_curve(mrows, METRIC)
            means += [c[1] for c in curve]
            (handles[method],) = ax.plot([c[0] for c in curve], [c[1] for c in curve], color=colors[method], lw=1.6,
                                         marker="o", ms=2)
        o = ov.get(task, {})
        lines = {"expert": (o.get("expert", float("nan")), "--", "gray"),
                 "random": (o.get("random", float("nan")), ":", "gray"),
                 "SFT start": (o.get("start", {}).get("return", float("nan")), "-.", "black")}
        for label, (y, style, color) in lines.items():
            if y == y:
                ax.axhline(y, ls=style, color=color, lw=1)
                ax.annotate(f"{label} {y:.1f}", (0, y), xycoords=("axes fraction", "data"), fontsize=7, color=color,
                            xytext=(2, 2), textcoords="offset points")
        ax.set_ylim(*curve_limits(means, {k: v[0] for k, v in lines.items()}, margin=0.05 * max(
            1.0, abs(o.get("expert", 1.0) - o.get("random", 0.0)) if o else 1.0)))
        if not trows:
            ax.text(0.5, 0.5, "not run yet", transform=ax.transAxes, ha="center", va="center", color="gray")
        ax.set_title(TASKS[task], fontsize=9)
        ax.set_xlabel("trajectories", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if k % ncols == 0:
            ax.set_ylabel("eval return (sampled)", fontsize=8)
    for k in range(len(tasks), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 9) or 1, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("mean over seeds (faint: each seed); dashed expert, dotted random, dash-dot the SFT start", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(p: dict) -> dict:
    out = Path(p["out"])
    rows = collect_metrics(p)
    refs = reference_returns(p["tasks"])
    prompted = prompted_results(p)
    precise = precise_finals(p)
    write_long_csv(rows, out / "metrics.csv")
    if p.get("overview"):  # the final evaluations beside metrics.csv, so the summary can be recomputed from both
        write_final_evals(precise, out / FINAL_EVALS)
    sessions = read_sessions(out)
    doc, md = render(p, rows, refs, precise, prompted, sessions)
    doc["algorithms"] = resolved_algorithms(p)
    (out / "summary.md").write_text(md)
    if p.get("overview"):
        plot_task_panels(rows, refs, doc["overview"], p, out / "curves.png")
    else:
        plot_curves(rows, refs, out / "curves.png", prompted)
    (out / "summary.json").write_text(json.dumps(doc, indent=2))
    return doc["summary"]


def render(p: dict, rows: list[dict], refs: dict, precise: dict, prompted: dict, sessions: list[dict]) -> tuple[dict, str]:
    """``summary.json`` (without ``algorithms``) and ``summary.md`` from their inputs: the plan, the long metrics
    rows, the references, the many-episode final evaluations, the prompted reference and the sessions. One function,
    so :func:`recompute` (the consistency check) gets the report's figures by the report's code."""
    summary = summarize(rows, refs, precise, prompted)
    doc: dict = {"summary": summary, "references": refs}
    lines = None
    if p.get("overview"):
        doc["overview"] = overview(p, rows, refs, precise)
        doc["provenance"] = provenance(p, rows, sessions)
        lines = overview_markdown(doc["overview"], p, refs, doc["provenance"])
    return doc, summary_markdown(summary, refs, p, lines)


def recompute(out: Path) -> tuple[dict, str]:
    """The summary of the results in ``out`` recomputed from its committed files alone: ``config.json`` (the plan),
    ``metrics.csv`` (every curve point of every run), ``final_evals.csv`` (the many-episode final evaluations; for
    results written before it, the per-seed figures ``summary.json`` keeps), the references and prompted results
    ``summary.json`` keeps (inputs, measured by the registry's code), and ``sessions.json``. A figure edited by hand
    in ``summary.md`` or ``summary.json`` does not survive it (tests/test_compare.py)."""
    out = Path(out)
    p = json.loads((out / "config.json").read_text())
    saved = json.loads((out / "summary.json").read_text())
    rows = read_rows(out / "metrics.csv")
    if (out / FINAL_EVALS).exists():
        precise = read_final_evals(out / FINAL_EVALS)
    else:
        precise = {task: {"start": s["precise_start"], "episodes": s["precise_episodes"],
                          **{m: v.get("precise_per_seed") for m, v in s["methods"].items()}}
                   for task, s in saved["summary"].items() if s.get("precise_episodes")}
    prompted = {task: s["prompted"] for task, s in saved["summary"].items() if "prompted" in s}
    return render(p, rows, saved["references"], precise, prompted, read_sessions(out))


def resolved_algorithms(p: dict) -> dict:
    """task -> method (or variant) -> the whole algorithm config its runs used, defaults included, from the first
    run's ``config.json`` (agents.config.run_config_json; a run made before it was written is left out)."""
    out: dict = {}
    for run in p["runs"]:
        path = run_dir(Path(p["out"]), run) / "config.json"
        name = run.get("variant", run["method"])
        if name in out.get(run["task"], {}) or not path.exists():
            continue
        resolved = json.loads(path.read_text()).get("algorithm")
        if resolved is not None:
            out.setdefault(run["task"], {})[name] = resolved
    return out


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        p = plan(args)
    except SystemExit as e:  # plan's messages, one line each: report them as usage errors (status 2)
        parser.error(str(e.code).removeprefix("error: "))
    out = Path(p["out"])
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a directory; choose another --out")
    cfg_path = out / "config.json"
    whole = p  # the plan the report covers
    if args.resume:
        try:
            whole = resumed_plan(p, cfg_path)
        except SystemExit as e:
            parser.error(str(e.code).removeprefix("error: "))
    elif p.get("overview") and args.tasks:
        # A piece of a many-task preset: the plan saved (and reported) is the preset's whole, so the other pieces
        # follow with --resume --tasks ...
        whole = {**plan(argparse.Namespace(**{**vars(args), "tasks": None})), "out": p["out"]}
    out.mkdir(parents=True, exist_ok=True)
    if not args.resume and cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old["runs"] != whole["runs"]:
            print(f"note: {cfg_path} held a different plan; runs that match keep their results")
    if not args.resume:
        cfg_path.write_text(json.dumps(whole, indent=2))
    t0 = time.time()
    from archer_gym.oracles.llm import OracleError

    try:  # before the runs: an endpoint that fails does so at once, not after hours of training
        prompted_evals(p, progress=not args.no_progress)
    except OracleError as e:
        parser.error(f"--prompted {p['prompted']['model']}: {e}")
    started = time.time()
    try:
        execute(p, progress=not args.no_progress)
        final_evals(p, progress=not args.no_progress)
    finally:  # an interrupted piece's hours count too
        if whole.get("overview"):
            record_session(out, started, p)
    report(whole)
    print((out / "summary.md").read_text())
    print(f"wrote {out}/metrics.csv, summary.md, curves.png, config.json ({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
