"""Trajectories ArCHer and PPO each need to reach a fixed eval return on TwentyQuestionsSubset-v0, and their ratio.

    python bench/sample_efficiency.py                        # reads (or first runs) results/quick
    python bench/sample_efficiency.py --results results/long # the long preset (issue 20's 3x target)
    python bench/sample_efficiency.py --results results/mine --threshold -6.5

Per seed: the first evaluation at which the eval return of the sampled policy reaches a threshold. By default
two: the SFT start + 1.0, and halfway from the SFT start to the scripted expert (the target issue 20 sets:
ArCHer there in 3x fewer trajectories than PPO). A run that never reaches it counts as "> budget" (as 2x the
budget in the mean): the ratio is then a bound. The ArCHer paper reports about 100x on Twenty Questions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from baselines.compare import METRIC, read_rows, reference_returns, sft_start  # noqa: E402

METHODS = ("archer", "ppo")


def first_reach(rows: list[dict], threshold: float) -> int | None:
    for r in sorted(rows, key=lambda r: int(r["trajectories"])):
        if float(r[METRIC]) >= threshold:
            return int(r["trajectories"])
    return None


def thresholds(rows: list[dict], expert: float) -> dict[str, float]:
    """The default thresholds: the SFT start + 1, and halfway from the SFT start to the expert's return."""
    start = sft_start(rows)
    return {f"SFT start + 1 (start {start:.2f})": start + 1.0,
            f"halfway from the SFT start to the expert ({start:.2f} -> {expert:.2f})": (start + expert) / 2}


def expert_return(results: Path) -> float:
    """The expert's eval return: the reference line compare.py wrote to ``summary.json`` beside the metrics (the same
    figure its threshold and plot use), else computed now (200 episodes)."""
    summary = results / "summary.json"
    if summary.exists():
        refs = json.loads(summary.read_text()).get("references", {}).get("twenty_questions_subset")
        if refs:
            return refs["expert"]
    return reference_returns(["twenty_questions_subset"])["twenty_questions_subset"]["expert"]


def measure(results: Path, threshold: float | None = None, expert: float | None = None) -> dict[str, dict[str, str]]:
    """Per threshold (``threshold``, or the two of :func:`thresholds`): trajectories to reach it per seed and the
    PPO / ArCHer ratio. ``expert``: the expert's eval return (default: the scripted expert's, 200 episodes)."""
    rows = [r for r in read_rows(results / "metrics.csv") if r["task"] == "twenty_questions_subset"]
    if not rows:
        raise SystemExit(f"no twenty_questions_subset rows in {results / 'metrics.csv'}")
    if threshold is not None:
        levels = {"given": threshold}
    else:
        if expert is None:
            expert = expert_return(results)
        levels = thresholds(rows, expert)
    return {name: measure_at(rows, level) for name, level in levels.items()}


def measure_at(rows: list[dict], threshold: float) -> dict[str, str]:
    """Trajectories ArCHer's and PPO's seeds need to reach ``threshold``, and the PPO / ArCHer ratio."""
    out = {"threshold (eval return, sampled policy)": f"{threshold:.2f}"}
    need = {}
    for m in METHODS:
        seeds = sorted({r["seed"] for r in rows if r["algo"] == m})
        budget = max(int(r["trajectories"]) for r in rows if r["algo"] == m)
        reach = [first_reach([r for r in rows if r["algo"] == m and r["seed"] == s], threshold) for s in seeds]
        need[m] = [budget * 2 if x is None else x for x in reach]  # "> budget" counted as 2x budget
        shown = ", ".join("> %d" % budget if x is None else str(x) for x in reach)
        out[f"{m}: trajectories to threshold per seed"] = shown
    a, p = np.mean(need["archer"]), np.mean(need["ppo"])
    out["ratio PPO / ArCHer (mean over seeds; '> budget' as 2x budget)"] = f"{p / a:.2f}"
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "results" / "quick"))
    ap.add_argument("--threshold", type=float, default=None)
    a = ap.parse_args(argv)
    results = Path(a.results)
    if not (results / "metrics.csv").exists():
        subprocess.run([sys.executable, str(ROOT / "baselines" / "compare.py"), "--methods", *METHODS,
                        "--out", str(results)], check=True)
    for name, figures in measure(results, a.threshold).items():
        print(name)
        for k, v in figures.items():
            print(f"  {k:<66} {v}")


if __name__ == "__main__":
    main()
