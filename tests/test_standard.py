"""The ``standard`` preset (issue 18): its structure, the normalised overview, the per-task figure, resuming in pieces
across tasks, and the consistency check of committed results (their summaries recomputed from their metrics)."""

import json
import math
from pathlib import Path

import pytest

from baselines import compare
from baselines.presets import PRESETS, STANDARD_BUDGETS, TASKS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def plan_of(*argv):
    return compare.plan(compare.build_parser().parse_args(list(argv)))


# ------------------------------------------------------------------------------------------------ the preset
def test_standard_preset_runs_every_registered_task_and_method_on_3_seeds():
    from archer_gym.registry import SPECS

    # the package's tasks (not the toy ones other tests register)
    shipped = sorted(i for i, s in SPECS.items()
                     if not str(getattr(s.entry_point, "__module__", s.entry_point)).startswith("tests"))
    pre = PRESETS["standard"]
    assert sorted(TASKS[t] for t in pre["tasks"]) == shipped  # every registered task, none twice
    assert set(STANDARD_BUDGETS) == set(TASKS), "every task has its own budget"
    p = plan_of("--preset", "standard", "--out", "unused")
    from baselines.presets import default_methods

    assert p["methods"] == default_methods() and p["seeds"] == [0, 1, 2]
    assert len(p["runs"]) == len(TASKS) * len(default_methods()) * 3
    for task, b in STANDARD_BUDGETS.items():
        assert b["trajectories"] > 0 and b["eval_episodes"] > 0 and b["final_episodes"] > 0
        assert b["trajectories"] % pre["train"]["rollout_trajectories"] == 0, task  # whole iterations
        assert 0 < b["eval_every"] <= b["trajectories"], task
        runs = [r for r in p["runs"] if r["task"] == task]
        assert {r["trajectories"] for r in runs} == {b["trajectories"]}
        assert {r["train"]["eval_every"] for r in runs} == {b["eval_every"]}
        assert compare.final_episodes_of(p, task) == b["final_episodes"]
    # gamma as the paper used it, in every method that has one
    field = compare.presets.gamma_field()
    detective = [r for r in p["runs"] if r["task"] == "detective" and r["method"] in field]
    assert detective and {r["algo_args"][field[r["method"]]] for r in detective} == {0.98}
    assert p["overview"] is True


def test_trajectories_flag_overrides_every_task_s_budget():
    p = plan_of("--preset", "standard", "--trajectories", "128", "--out", "unused")
    assert {r["trajectories"] for r in p["runs"]} == {128} and set(p["task_trajectories"].values()) == {128}


def test_the_other_presets_plans_keep_their_form():
    for preset in ("quick", "long"):
        p = plan_of("--preset", preset, "--out", "unused")
        assert not {"task_trajectories", "task_final_episodes", "overview"} & set(p)


# ------------------------------------------------------------------------------------------------ normalisation
def test_normalise_by_hand():
    assert compare.normalise(-14.0, random=-14.0, expert=-2.0) == 0.0
    assert compare.normalise(-2.0, random=-14.0, expert=-2.0) == 100.0
    assert compare.normalise(-8.0, random=-14.0, expert=-2.0) == 50.0
    assert compare.normalise(-17.0, random=-14.0, expert=-2.0) == -25.0  # below random is negative
    assert math.isnan(compare.normalise(1.0, random=3.0, expert=3.0))
    assert math.isnan(compare.normalise(1.0, random=float("nan"), expert=3.0))


def _row(task, algo, seed, traj, ret):
    return {"task": task, "algo": algo, "env_id": TASKS[task], "seed": str(seed), "iteration": str(traj // 64),
            "trajectories": str(traj), "tokens": "100", "seconds": str(traj / 10), "eval_return": str(ret),
            "eval_sampled_return": str(ret), "eval_sampled_success": "0.5"}


def toy_plan(out, tasks=("twenty_questions_subset", "wordle"), methods=("archer", "ppo"), seeds=(0, 1), budget=128):
    runs = [{"task": t, "env_id": TASKS[t], "method": m, "seed": s, "trajectories": budget,
             "train": {"rollout_trajectories": 64, "eval_every": 64, "eval_episodes": 10, "actor": "tiny",
                       "critic": "tiny", "device": "cpu"}, "algo_args": {}}
            for t in tasks for m in methods for s in seeds]
    return {"preset": "toy", "tasks": list(tasks), "methods": list(methods), "seeds": list(seeds),
            "trajectories": budget, "jobs": 1, "threads": 1, "out": str(out), "runs": runs, "final_episodes": 20,
            "task_trajectories": {t: budget for t in tasks}, "task_final_episodes": {t: 20 for t in tasks},
            "overview": True}


def test_overview_normalises_each_seed_and_its_ci_by_hand():
    refs = {"twenty_questions_subset": {"expert": -2.0, "random": -14.0}}
    p = toy_plan("unused", tasks=("twenty_questions_subset",), methods=("archer",), seeds=(0, 1, 2))
    rows = [_row("twenty_questions_subset", "archer", s, t, r) for s, final in [(0, -5.0), (1, -8.0), (2, -11.0)]
            for t, r in [(0, -10.0), (64, -9.0), (128, final)]]
    ov = compare.overview(p, rows, refs, precise={})["twenty_questions_subset"]
    a = ov["methods"]["archer"]
    assert a["per_seed"] == [75.0, 50.0, 25.0] and a["score"] == 50.0 and a["source"] == "curve's last point"
    assert a["ci95"] == pytest.approx(4.303 * 25.0 / math.sqrt(3))  # sd of 75, 50, 25 is 25
    assert ov["start"]["score"] == pytest.approx(100 * (-10 + 14) / 12) and ov["start"]["source"].startswith("curve")
    # The many-episode final evaluations replace the curve's last points when every finished seed has one.
    precise = {"twenty_questions_subset": {"start": -11.0, "episodes": 50, "archer": [-2.0, -2.0, -14.0]}}
    ov = compare.overview(p, rows, refs, precise)["twenty_questions_subset"]
    assert ov["methods"]["archer"]["per_seed"] == [100.0, 100.0, 0.0] and ov["start"]["score"] == 25.0
    assert ov["methods"]["archer"]["source"] == "final, 50 episodes"


# ------------------------------------------------------------------------------------------------ a 2-task toy run
def write_toy_results(out: Path) -> dict:
    """Run directories as compare.py leaves them, for 2 tasks x 2 methods x 2 seeds: everything done except
    wordle/ppo (no run at all) and wordle/archer seed 1 (stopped half-way), with the final evaluations of the
    finished runs."""
    p = toy_plan(out)
    for r in p["runs"]:
        if r["task"] == "wordle" and r["method"] == "ppo":
            continue
        d = compare.run_dir(out, r)
        d.mkdir(parents=True)
        stop = 64 if (r["task"] == "wordle" and r["seed"] == 1) else 128
        base = -10.0 if r["task"] == "twenty_questions_subset" else -5.0
        rows = [_row(r["task"], r["method"], r["seed"], t, base + t / 64 + r["seed"]) for t in range(0, stop + 1, 64)]
        compare.write_long_csv([{k: v for k, v in x.items() if k != "task"} for x in rows], d / "metrics.csv")
        if stop == 128:
            (d / "final_eval_20.json").write_text(json.dumps([{"mean_return": base + 2.5 + r["seed"]}]))
    for task in p["tasks"]:
        (out / "runs" / task / "final_eval_20.json").write_text(json.dumps([{"mean_return": -9.0 if task.startswith(
            "twenty") else -5.5}]))
    (out / "config.json").write_text(json.dumps(p, indent=2))
    (out / "sessions.json").write_text(json.dumps([
        {"started": "2026-01-01T12:00:00", "seconds": 100.0, "tasks": p["tasks"], "commit": "abc1234",
         "hardware": "a CPU, 2 cores, Linux", "jobs": 2, "threads": 1},
        {"started": "2026-01-01T14:00:00", "seconds": 50.5, "tasks": ["wordle"], "commit": "abc1234",
         "hardware": "a CPU, 2 cores, Linux", "jobs": 2, "threads": 1}]))
    return p


def test_two_task_report_has_the_overview_a_missing_cell_and_one_panel_per_task(tmp_path):
    out = tmp_path / "toy"
    p = write_toy_results(out)
    compare.report(p)
    md = (out / "summary.md").read_text()
    doc = json.loads((out / "summary.json").read_text())
    ov = doc["overview"]
    refs = doc["references"]
    tq = refs["twenty_questions_subset"]
    # twenty_questions_subset/archer: finals -7.5, -6.5 (the final evaluations) normalised by the registry's references
    expect = [compare.normalise(x, tq["random"], tq["expert"]) for x in (-7.5, -6.5)]
    assert ov["twenty_questions_subset"]["methods"]["archer"]["per_seed"] == pytest.approx(expect)
    assert ov["wordle"]["methods"]["ppo"]["seeds"] == 0
    w = ov["wordle"]["methods"]["archer"]
    assert (w["seeds"], w["planned"]) == (1, 2)  # the half-finished seed does not count
    line = next(x for x in md.splitlines() if x.startswith("| ppo |"))
    assert line.endswith("| not run |")
    line = next(x for x in md.splitlines() if x.startswith("| archer |"))
    assert "(1/2 seeds)" in line
    assert "| expert (scripted) | 100 | 100 |" in md and "| random (scripted) | 0 | 0 |" in md
    start = compare.normalise(-9.0, tq["random"], tq["expert"])
    assert f"| SFT start | {start:.0f} |" in md
    assert "Wall-clock: 150 s over 2 session(s)" in md and "Commit(s): abc1234" in md
    assert "Runs at their budget: 5 of 8" in md  # wordle: ppo not run, archer seed 1 half-way
    assert "| wordle | archer/Wordle-v0 | 6 |" in md  # the settings table: the registry's turn cap
    assert (out / "curves.png").stat().st_size > 10_000
    from PIL import Image

    w_px, h_px = Image.open(out / "curves.png").size
    assert w_px > h_px  # 2 panels side by side
    # final_evals.csv keeps the final evaluations: the summary is recomputed from the files alone, to the digit.
    doc2, md2 = compare.recompute(out)
    assert md2 == md
    assert json.dumps(doc2["overview"]) == json.dumps(doc["overview"])


def test_a_hand_edited_figure_does_not_survive_the_recomputation(tmp_path):
    out = tmp_path / "toy"
    compare.report(write_toy_results(out))
    md = (out / "summary.md").read_text()
    check_consistent(out)
    line = next(x for x in md.splitlines() if x.startswith("| archer |"))
    (out / "summary.md").write_text(md.replace(line, line.replace(" ± ", "1 ± ", 1)))  # 47 -> 471, say
    with pytest.raises(AssertionError, match="summary.md is not what its metrics.csv gives"):
        check_consistent(out)
    (out / "summary.md").write_text(md)
    doc = json.loads((out / "summary.json").read_text())
    doc["overview"]["wordle"]["methods"]["archer"]["score"] += 1.0
    (out / "summary.json").write_text(json.dumps(doc, indent=2))
    with pytest.raises(AssertionError, match="overview differs"):
        check_consistent(out)


def check_consistent(out: Path) -> None:
    """The consistency check: summary.md and summary.json are what the report's code computes from the committed
    metrics (and final evaluations)."""
    doc, md = compare.recompute(out)
    saved = json.loads((out / "summary.json").read_text())
    for key in ("summary", "overview", "provenance"):
        assert json.dumps(doc.get(key)) == json.dumps(saved.get(key)), f"{out}/summary.json: {key} differs"
    assert md == (out / "summary.md").read_text(), f"{out}/summary.md is not what its metrics.csv gives"


@pytest.mark.parametrize("folder", ["", "long", "standard"])
def test_committed_summaries_are_recomputed_from_their_metrics(folder):
    out = RESULTS / folder
    if not (out / "summary.json").exists():
        pytest.skip(f"{out.relative_to(ROOT)} is not committed yet (python baselines/compare.py --preset standard "
                    f"--out docs/results/standard writes it)")
    check_consistent(out)


def test_committed_references_are_the_registry_s():
    """The references the committed summaries normalise by are the registry's (python -m archer_gym reference)."""
    import archer_gym

    for folder in ("", "long", "standard"):
        path = RESULTS / folder / "summary.json"
        if not path.exists():
            continue
        for task, ref in json.loads(path.read_text())["references"].items():
            stored = archer_gym.reference(TASKS[task])
            assert {k: stored[k]["mean_return"] for k in ref} == ref, f"{path}: {task}"


# ------------------------------------------------------------------------------------------------ resume in pieces
class FakeRun:
    """A stand-in for a run's process: writes the run's metrics at its budget and exits 0."""

    launched: list = []

    def __init__(self, cmd, **kwargs):
        cfg = json.loads(Path(cmd[cmd.index("--config") + 1]).read_text())
        FakeRun.launched.append((Path(cfg["out"]).parts[-3], Path(cfg["out"]).parts[-2], cfg["seed"]))
        rows = [{"algo": cfg["algo"], "seed": cfg["seed"], "trajectories": t, "eval_sampled_return": -5.0,
                 "eval_return": -5.0, "seconds": 1.0, "tokens": 1} for t in (0, cfg["trajectories"])]
        compare.write_long_csv(rows, Path(cfg["out"]) / "metrics.csv")
        self.returncode = 0

    def poll(self):
        return 0


def test_resume_in_pieces_across_tasks(tmp_path, monkeypatch, capsys):
    out = tmp_path / "std"
    built = []
    monkeypatch.setattr(compare.subprocess, "Popen", FakeRun)
    monkeypatch.setattr(compare, "prepare_starts", lambda p, critic, progress=True: built.append(
        (critic, sorted({r["task"] for r in p["runs"]}))))
    monkeypatch.setattr(compare.time, "sleep", lambda s: None)
    monkeypatch.setattr(compare, "git_commit", lambda: "abc1234")  # subprocess.run would meet the fake Popen
    reported: list = []

    def report(p):  # the real one is tested above; this records which plan it covers
        reported.append(p)
        (Path(p["out"]) / "summary.md").write_text("")

    monkeypatch.setattr(compare, "report", report)
    base = ["--preset", "standard", "--tasks", "wordle", "maze", "--methods", "bc", "ppo", "--seeds", "0", "1",
            "--out", str(out), "--no-progress", "--final-episodes", "0", "--jobs", "1"]
    # A resume with nothing to resume is refused (a typo in --out must not start a new comparison silently).
    with pytest.raises(SystemExit):
        compare.main([*base, "--resume"])
    assert "--resume: " in capsys.readouterr().err and not (out / "config.json").exists()
    # Write the plan (both tasks), then run a piece: maze only.
    plan = plan_of(*base)
    out.mkdir()
    (out / "config.json").write_text(json.dumps(plan, indent=2))
    piece = [a for a in base if a != "wordle"]
    assert compare.main([*piece, "--resume"]) == 0
    assert sorted(FakeRun.launched) == [("maze", m, s) for m in ("bc", "ppo") for s in (0, 1)]
    assert built == [(False, ["maze"])]  # no start point built for the task not run in this piece
    assert reported[-1]["tasks"] == ["wordle", "maze"]  # the report covers the whole plan
    assert json.loads((out / "config.json").read_text()) == plan  # the saved plan is kept whole
    # The rest: maze's runs are skipped, wordle's run; every run is at its budget at the end.
    FakeRun.launched, built[:] = [], []
    assert compare.main([*base, "--resume"]) == 0
    assert sorted(FakeRun.launched) == [("wordle", m, s) for m in ("bc", "ppo") for s in (0, 1)]
    assert built == [(False, ["wordle"])]
    assert all(compare.finished(out, r) for r in plan["runs"])
    assert "4 finished run(s) skipped" in capsys.readouterr().out
    # A piece that is not part of the saved plan (another budget) is refused, with the run that differs.
    with pytest.raises(SystemExit):
        compare.main([*base, "--resume", "--trajectories", "128"])
    assert "not in" in capsys.readouterr().err
    # A first piece without --resume saves the preset's whole plan (every task), so the rest can follow with --resume.
    FakeRun.launched, other = [], tmp_path / "other"
    assert compare.main([*[a for a in base if a != "wordle"], "--out", str(other)]) == 0
    saved = json.loads((other / "config.json").read_text())
    assert saved["tasks"] == list(TASKS) and {r["task"] for r in saved["runs"]} == set(TASKS)
    assert {t for t, _, _ in FakeRun.launched} == {"maze"} and reported[-1]["tasks"] == list(TASKS)
    FakeRun.launched = []
