"""Trajectories ArCHer and PPO each need to reach a fixed eval return on TwentyQuestionsSubset-v0, and their ratio.

    python bench/sample_efficiency.py                        # reads (or first runs) results/quick
    python bench/sample_efficiency.py --results results/mine --threshold -6.5

Per seed: the first evaluation at which the eval return of the sampled policy reaches the threshold
(default: the SFT start + 1.0). A run that never reaches it counts as "> budget"; the ratio is then a lower
bound, or undefined when neither method reaches it. The ArCHer paper reports about 100x on Twenty Questions.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from baselines.compare import METRIC, read_rows, sft_start  # noqa: E402

METHODS = ("archer", "ppo")


def first_reach(rows: list[dict], threshold: float) -> int | None:
    for r in sorted(rows, key=lambda r: int(r["trajectories"])):
        if float(r[METRIC]) >= threshold:
            return int(r["trajectories"])
    return None


def measure(results: Path, threshold: float | None = None) -> dict[str, str]:
    rows = [r for r in read_rows(results / "metrics.csv") if r["task"] == "twenty_questions_subset"]
    if not rows:
        raise SystemExit(f"no twenty_questions_subset rows in {results / 'metrics.csv'}")
    start = sft_start(rows)
    threshold = start + 1.0 if threshold is None else threshold
    out = {"threshold (eval return, sampled policy)": f"{threshold:.2f} (SFT start {start:.2f})"}
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
    for k, v in measure(results, a.threshold).items():
        print(f"{k:<66} {v}")


if __name__ == "__main__":
    main()
