"""bench/sample_efficiency.py on a synthetic metrics file: the two default thresholds and the PPO / ArCHer ratio."""

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import sample_efficiency as se  # noqa: E402


def _write(path: Path, curves: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "algo", "seed", "trajectories", "eval_sampled_return"])
        w.writeheader()
        for (algo, seed), points in curves.items():
            for t, ret in points:
                w.writerow({"task": "twenty_questions_subset", "algo": algo, "seed": seed, "trajectories": t,
                            "eval_sampled_return": ret})


def test_thresholds_and_ratio(tmp_path):
    # SFT start -8 (bc at 0); expert -4: thresholds -7 (start + 1) and -6 (halfway).
    _write(tmp_path / "metrics.csv", {
        ("bc", 0): [(0, -8.0), (400, -8.0)],
        ("archer", 0): [(0, -8.0), (100, -7.0), (200, -6.0), (400, -5.5)],
        ("archer", 1): [(0, -8.0), (100, -7.5), (200, -6.5), (400, -6.5)],  # never halfway: "> 400", counted 800
        ("ppo", 0): [(0, -8.0), (100, -7.5), (200, -7.0), (400, -6.0)],
        ("ppo", 1): [(0, -8.0), (100, -7.5), (200, -7.5), (400, -7.0)],
    })
    out = se.measure(tmp_path, expert=-4.0)
    plus_one, halfway = out.values()
    assert plus_one["threshold (eval return, sampled policy)"] == "-7.00"
    assert plus_one["archer: trajectories to threshold per seed"] == "100, 200"
    assert plus_one["ppo: trajectories to threshold per seed"] == "200, 400"
    assert float(plus_one["ratio PPO / ArCHer (mean over seeds; '> budget' as 2x budget)"]) == pytest.approx(2.0)
    assert halfway["threshold (eval return, sampled policy)"] == "-6.00"
    assert halfway["archer: trajectories to threshold per seed"] == "200, > 400"
    assert halfway["ppo: trajectories to threshold per seed"] == "400, > 400"
    assert float(halfway["ratio PPO / ArCHer (mean over seeds; '> budget' as 2x budget)"]) == pytest.approx(1200 / 1000)
    given = se.measure(tmp_path, threshold=-7.5)
    assert list(given) == ["given"] and given["given"]["archer: trajectories to threshold per seed"] == "100, 100"


def test_expert_comes_from_the_comparison_s_summary(tmp_path):
    """The expert's return is read from compare.py's summary.json beside the metrics, not recomputed."""
    import json

    (tmp_path / "summary.json").write_text(json.dumps({"references": {"twenty_questions_subset": {"expert": -4.0,
                                                                                                  "random": -14.0}}}))
    assert se.expert_return(tmp_path) == -4.0
