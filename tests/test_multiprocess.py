"""Slow: ``accelerate launch`` with 2 CPU processes (gloo) against one process at the same budget.

accelerate's multi-process launcher is ``--multi_gpu``; on a machine without GPUs it starts CPU processes that
the trainer joins over gloo (``accelerate launch --cpu`` alone starts ONE process unless an MPI hostfile is given).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.loopback import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ENV = "archer/ToyColour-v0"
SFT_ARGS = ["--sft-episodes", "300", "--sft-epochs", "4"]


def _accelerate() -> str:
    exe = Path(sys.executable).with_name("accelerate")
    found = str(exe) if exe.exists() else shutil.which("accelerate")
    if found is None:
        pytest.skip("accelerate is not installed (pip install 'archer-gym[scale]')")
    return found


def _run(args: list[str], out: Path, cache: Path, processes: int, module: str = "tests.train_main") -> tuple[str, float]:
    """Run ``module`` (default tests.train_main: agents.train with the toy task registered) in 1 or N processes;
    returns (stdout, seconds)."""
    env = {**os.environ, "ARCHER_GYM_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    if processes == 1:
        cmd = [sys.executable, "-m", module, "--threads", "1"]
    else:
        cmd = [_accelerate(), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", module]
    if module == "tests.train_main":
        args = args + ["--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout, seconds


def _rows(out: Path) -> list[dict]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_two_processes_match_one_process_at_the_same_budget(tmp_path, cache):
    # 15 per iteration does not divide the budget nor split evenly over 2 ranks (8 + 7, last iteration 2 + 2).
    args = ["--algo", "archer", "--env", ENV, "--trajectories", "64", "--rollout-trajectories", "15",
            "--num-envs", "8", "--eval-every", "32", "--eval-episodes", "64", *SFT_ARGS,
            "--algo-arg", "critic_warmup_steps=50", "--algo-arg", "batch_size=32", "--algo-arg", "actor_batch_size=32"]
    one_out, one_s = _run(args, tmp_path / "one", cache, 1)
    two_out, two_s = _run(args, tmp_path / "two", cache, 2)
    one, two = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    print(f"\n1 process {one_s:.1f}s (training {one[-1]['seconds']}s), final eval {one[-1]['eval_return']} greedy, "
          f"{one[-1]['eval_sampled_return']} sampled\n2 processes {two_s:.1f}s (training {two[-1]['seconds']}s), "
          f"final eval {two[-1]['eval_return']} greedy, {two[-1]['eval_sampled_return']} sampled")
    # The budget is counted globally: same evaluation points, exactly 64 trajectories, 5 iterations.
    assert [r["trajectories"] for r in two] == [r["trajectories"] for r in one] == ["0", "45", "64"]
    assert two[-1]["iteration"] == one[-1]["iteration"] == "5"
    # Only the main process writes and prints: one metrics.csv, one line per evaluation, one config.
    assert two_out.count("traj     64") == 1 and two_out.count("final:") == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    config_one = json.loads((tmp_path / "one" / "config.json").read_text())
    config_two = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config_one.pop("threads") == 1 and config_two.pop("threads") == 0  # 0: cores split over processes
    assert config_one.pop("out") != config_two.pop("out")
    assert config_one == config_two
    # The replay buffer holds every rank's episodes: SFT data + all 64 trajectories' transitions, as in one process.
    n_two = sum(1 for _ in open(tmp_path / "two" / "checkpoint" / "buffer.jsonl"))
    n_one = sum(1 for _ in open(tmp_path / "one" / "checkpoint" / "buffer.jsonl"))
    steps_two, steps_one = int(two[-1]["env_steps"]), int(one[-1]["env_steps"])
    assert n_two - steps_two == n_one - steps_one  # same SFT seed data, then exactly the collected steps
    # Same start (same SFT actor, same eval episodes; greedy eval does not depend on the split).
    assert two[0]["eval_return"] == one[0]["eval_return"]
    # Learning in line: the final sampled eval returns agree within their combined 95% CIs (64 episodes each;
    # the runs differ only in rank 1's acting noise) plus 0.5 return units for seed-to-seed spread.
    tol = float(one[-1]["eval_sampled_ci95"]) + float(two[-1]["eval_sampled_ci95"]) + 0.5
    gap = abs(float(two[-1]["eval_sampled_return"]) - float(one[-1]["eval_sampled_return"]))
    assert gap <= tol, f"final sampled eval differs by {gap:.2f} > {tol:.2f}"


@pytest.mark.parametrize("algo", ["archer_baseline", "ppo", "filtered_bc", "chai", "bc", "grpo", "rloo", "turn_grpo",
                                  "gigpo"])
def test_every_algorithm_runs_in_two_processes(tmp_path, cache, algo):
    groups = ["--algo-arg", "group_size=5", "--algo-arg", "minibatch_size=16"]  # 2 groups of 5 per iteration
    extra = {"archer_baseline": ["--algo-arg", "critic_warmup_steps=50"],
             "chai": ["--algo-arg", "critic.critic_warmup_steps=50"],
             "grpo": groups, "rloo": groups, "turn_grpo": groups, "gigpo": groups}.get(algo, [])
    args = ["--algo", algo, "--env", ENV, "--trajectories", "20", "--rollout-trajectories", "10", "--num-envs", "4",
            "--eval-every", "20", "--eval-episodes", "8", *SFT_ARGS, *extra]
    out, _ = _run(args, tmp_path / algo, cache, 2)
    rows = _rows(tmp_path / algo)
    assert [r["trajectories"] for r in rows] == ["0", "20"] and out.count("final:") == 1
    assert (tmp_path / algo / "checkpoint" / "meta.json").exists()
    state = json.loads((tmp_path / algo / "checkpoint" / "meta.json").read_text())["state"]
    assert state["world_size"] == 2 and len(state["rank_algo_rng"]) == 2


def test_resumed_two_process_run_equals_uninterrupted(tmp_path, cache):
    """Stop a 2-process run after 2 iterations, resume it: the same curve as without the stop (every rank's
    acting stream is in the checkpoint)."""
    import math

    _run([str(tmp_path)], tmp_path, cache, 2, module="tests.resume_main")
    curves = json.loads((tmp_path / "curves.json").read_text())

    def strip(rows):  # wall-clock differs; NaN compares unequal to itself
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if not k.endswith("seconds")}
                for r in rows]

    assert [r["trajectories"] for r in curves["full"]] == [0, 45, 64]
    assert strip(curves["resumed"]) == strip(curves["full"])
