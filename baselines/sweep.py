"""The tuning sweep behind the presets: every method gets the same number of configurations, seeds and budget.

    python baselines/sweep.py                          # 3 configurations x 2 seeds x 512 trajectories per method
    python baselines/sweep.py --write-tuned            # ... and write the winners to baselines/tuned.json

Each method varies its one most sensitive setting over three values around its default (the actor's learning
rate; CHAI, whose actor is frozen, its number of candidates k); BC has nothing to tune and runs once as the
reference. Runs use the ``quick`` preset's settings (TwentyQuestionsSubset-v0, tiny models, CPU) and go through
the same machinery as ``compare.py`` (parallel, resumable). The winner of each method is the configuration with
the highest mean over seeds of the sampled eval return averaged over the evaluations after the first quarter
of the budget (the area under the late curve: less noisy than the final point alone). ``--write-tuned`` stores
the winners in ``baselines/tuned.json``, which the ``quick`` and ``long`` presets read; ``sweep.md`` in ``--out``
lists every configuration's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from baselines import compare  # noqa: E402
from baselines.presets import PRESETS, TASKS, TUNED_PATH  # noqa: E402

def _grid() -> dict[str, tuple[str, list]]:
    from agents.algos import specs

    return {n: s.tune for n, s in specs().items() if s.tune is not None}


#: method -> (setting, values), from each algorithm's registered ``tune``. The middle value is its default.
GRID: dict[str, tuple[str, list]] = _grid()


#: ArCHer's ablation (``--grid ablation``): which of its components matter, each on ArCHer's DEFAULT settings (not
#: tuned.json's), so a rerun reproduces docs/results/ablation.md whatever the tuning sweep later chose. The table was
#: run when the default had 2 critic-only online iterations; ON pins them, so the rows keep meaning what they measured.
ON = {"warmup_iterations": 2}
ABLATION: list[tuple[str, str, dict]] = [
    ("archer", "archer-paper", {**ON}),                                                # replay states, fresh actions, Q - V
    ("archer", "archer-rollout-q", {**ON, "actor_data": "rollout"}),                   # own rollout utterances, Q - V
    ("archer", "archer-rollout-td", {**ON, "actor_data": "rollout", "advantage": "td"}),  # own rollouts, TD advantage
    ("archer", "archer-critic10", {**ON, "critic_updates": 10}),                       # half the critic budget
    ("archer", "archer-critic50", {**ON, "critic_updates": 50}),                       # 2.5x the critic budget
    ("archer", "archer-no-online-warmup", {"warmup_iterations": 0}),                   # the actor moves from iteration 0 (today's default)
]


def variants(grid: str, methods: list[str]) -> list[tuple[str, str, dict]]:
    """(method, variant name, algo-arg overrides) of a grid."""
    if grid == "ablation":
        return ABLATION
    out = []
    for method in methods:
        key, values = GRID[method]
        for value in values:
            out.append((method, f"{method}-{key}={value:g}" if key else method, {key: value} if key else {}))
    return out


def sweep_plan(args) -> dict:
    pre = PRESETS["quick"]
    task = pre["tasks"][0]
    train = dict(pre["train"])
    runs = []
    chosen = variants(args.grid, args.methods)
    if getattr(args, "variants", None):
        unknown = sorted(set(args.variants) - {v for _, v, _ in chosen})
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; the {args.grid} grid has {[v for _, v, _ in chosen]}")
        chosen = [c for c in chosen if c[1] in args.variants]
    for method, variant, overrides in chosen:
        tuned = {} if args.grid == "ablation" else pre["algo_args"].get(method, {})
        algo_args = {**tuned, **overrides}
        for seed in args.seeds:
            runs.append({"task": task, "env_id": TASKS[task], "method": method, "variant": variant, "seed": seed,
                         "trajectories": args.trajectories, "train": train, "algo_args": algo_args})
    return {"preset": "sweep", "grid": args.grid, "tasks": [task], "methods": args.methods, "seeds": args.seeds,
            "trajectories": args.trajectories, "jobs": args.jobs, "threads": 1, "out": args.out, "runs": runs}


def late_mean(rows: list[dict], budget: int) -> float:
    """Mean sampled eval return over the evaluations after the first quarter of the budget."""
    late = [compare._f(r, compare.METRIC) for r in rows if int(r["trajectories"]) > budget // 4]
    return float(np.mean(late)) if late else float("nan")


def score(p: dict) -> dict:
    out = Path(p["out"])
    table: dict[str, dict] = {}
    for r in p["runs"]:
        rows = compare.read_rows(compare.run_dir(out, r) / "metrics.csv")
        if not rows:
            continue
        final = max(rows, key=lambda x: int(x["trajectories"]))
        v = table.setdefault(r["variant"], {"method": r["method"], "algo_args": r["algo_args"], "late": [],
                                            "final": [], "greedy": [], "reached": []})
        v["reached"].append(int(final["trajectories"]))
        v["late"].append(late_mean(rows, p["trajectories"]))
        v["final"].append(compare._f(final, compare.METRIC))
        v["greedy"].append(compare._f(final, compare.GREEDY))
    best: dict[str, str] = {}
    for variant, v in table.items():
        v["score"] = float(np.mean(v["late"]))
        # A configuration stopped before the budget on some seed (or missing a seed) is listed, never chosen.
        v["complete"] = len(v["reached"]) == len(p["seeds"]) and min(v["reached"]) >= p["trajectories"]
        m = v["method"]
        if not v["complete"]:
            continue
        if m not in best or v["score"] > table[best[m]]["score"]:
            best[m] = variant
    return {"variants": table, "best": best}


def sweep_markdown(res: dict, p: dict) -> str:
    ablation = p.get("grid") == "ablation"
    title = "ArCHer ablation" if ablation else "Tuning sweep"
    command = "python baselines/sweep.py" + (" --grid ablation" if ablation else "")
    lines = [f"# {title} ({p['trajectories']} trajectories, seeds {p['seeds']}, quick preset settings)", "",
             "Score: the sampled eval return averaged over the evaluations after the first quarter of the budget, "
             f"mean over seeds (`{command}`). The best configuration of each method is in bold.", "",
             "| method | configuration | score | per seed | final sampled return per seed | final greedy per seed |",
             "|---|---|---|---|---|---|"]
    for variant, v in res["variants"].items():
        chosen = res["best"].get(v["method"]) == variant
        name = f"**{variant}**" if chosen else variant
        if not v["complete"]:
            name += f" (stopped at {min(v['reached'])} trajectories on {len(v['reached'])} seed(s); not chosen)"
        fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        lines.append(f"| {v['method']} | {name} | {v['score']:.2f} | {fmt(v['late'])} | {fmt(v['final'])} | "
                     f"{fmt(v['greedy'])} |")
    return "\n".join(lines) + "\n"


def merge_tuned(res: dict, a) -> dict:
    """tuned.json with this sweep's winners written over their methods' entries; the methods it did not sweep keep
    theirs, and ``sources`` records which command chose each method's setting."""
    old = json.loads(TUNED_PATH.read_text()) if TUNED_PATH.exists() else {}
    tuned, sources = dict(old.get("algo_args", {})), dict(old.get("sources", {}))
    command = f"python baselines/sweep.py --methods {' '.join(a.methods)} --out {a.out}"
    for variant in res["best"].values():
        method = res["variants"][variant]["method"]
        tuned[method] = res["variants"][variant]["algo_args"]
        sources[method] = command
    return {**old, "algo_args": tuned, "sources": sources}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", default="tuning", choices=["tuning", "ablation"],
                    help="tuning: 3 values of each method's main setting; ablation: ArCHer's components")
    ap.add_argument("--methods", nargs="+", default=list(GRID), choices=list(GRID))
    ap.add_argument("--variants", nargs="+", default=None, help="run only these variants of the grid (by name)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--trajectories", type=int, default=512)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="results/sweep")
    ap.add_argument("--write-tuned", action="store_true",
                    help=f"write the winners to {TUNED_PATH} (over the swept methods' entries; the others keep theirs)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--score-only", action="store_true",
                    help="run nothing: score the runs already in --out (a stopped configuration is listed, not chosen)")
    a = ap.parse_args(argv)
    p = sweep_plan(a)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "config.json").write_text(json.dumps(p, indent=2))
    if not a.score_only:
        compare.execute(p, progress=not a.no_progress)
    res = score(p)
    (Path(a.out) / "sweep.json").write_text(json.dumps(res, indent=2))
    md = sweep_markdown(res, p)
    (Path(a.out) / "sweep.md").write_text(md)
    print(md)
    if a.write_tuned and a.grid == "tuning":
        TUNED_PATH.write_text(json.dumps(merge_tuned(res, a), indent=2) + "\n")
        print(f"wrote {TUNED_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
