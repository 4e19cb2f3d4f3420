"""baselines/compare.py: argument validation, summary statistics on a synthetic metrics file, resume."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from baselines import compare

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "baselines" / "compare.py"), *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown preset 'nope'; choose one of: quick, long, paper"),
    (["--tasks", "chess"], "unknown task(s) ['chess']; choose from: twenty_questions_subset"),
    (["--methods", "archer", "dqn"], "unknown method(s) ['dqn']; choose from: archer, archer_baseline, ppo"),
    (["--trajectories", "10"], "--trajectories 10 is smaller than one iteration (64 trajectories)"),
    (["--seeds", "1", "1"], "--seeds must be distinct"),
])
def test_bad_arguments_fail_before_any_work(tmp_path, args, message):
    r = run(*args, "--out", str(tmp_path / "x"))
    assert r.returncode != 0 and message in r.stderr
    assert not (tmp_path / "x").exists()


def test_t_interval_and_mean_ci():
    m, h = compare.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(compare.mean_ci([5.0])[1])


def _row(algo, seed, traj, ret, succ=0.5):
    return {"task": "twenty_questions_subset", "algo": algo, "seed": str(seed), "trajectories": str(traj),
            "eval_sampled_return": str(ret), "eval_sampled_success": str(succ), "eval_return": str(ret - 1),
            "tokens": "100", "seconds": "10"}


def test_summary_on_synthetic_metrics():
    rows = []
    for seed, final in [(0, -3.0), (1, -4.0), (2, -5.0)]:
        rows += [_row("archer", seed, 0, -8.0), _row("archer", seed, 64, -6.0), _row("archer", seed, 128, final, 0.9)]
        rows += [_row("bc", seed, 0, -8.0), _row("bc", seed, 64, -8.0), _row("bc", seed, 128, -8.0, 0.4)]
    refs = {"twenty_questions_subset": {"expert": -2.0, "random": -14.0}}
    s = compare.summarize(rows, refs)["twenty_questions_subset"]
    assert s["start"] == -8.0 and s["threshold"] == -5.0  # halfway from -8 to the expert's -2
    a = s["methods"]["archer"]
    assert a["final_return"] == -4.0 and a["final_return_ci95"] == pytest.approx(4.303 / math.sqrt(3))
    assert a["final_success"] == pytest.approx(0.9) and a["trajectories_to_threshold"] == 128
    assert s["methods"]["bc"]["trajectories_to_threshold"] is None
    md = compare.summary_markdown({"twenty_questions_subset": s}, refs, {"preset": "t", "trajectories": 128, "seeds": [0, 1, 2]})
    assert "| archer | -4.00 | ± 2.48 | 0.90 | 128 | -5.00 ± 2.48 |" in md
    assert "| bc | -8.00 | ± 0.00 | 0.40 | > 128 | -9.00 ± 0.00 |" in md


def test_summary_reports_the_many_episode_final_evaluations_beside_the_curve():
    rows = []
    for seed in (0, 1, 2):
        rows += [_row("archer", seed, 0, -8.0), _row("archer", seed, 128, -5.0)]
        rows += [_row("ppo", seed, 0, -8.0), _row("ppo", seed, 128, -6.0)]
    refs = {"twenty_questions_subset": {"expert": -2.0, "random": -14.0}}
    precise = {"twenty_questions_subset": {"start": -7.5, "episodes": 500, "archer": [-5.5, -6.0, -6.5],
                                           "ppo": [-6.0, None, -6.2]}}
    s = compare.summarize(rows, refs, precise)["twenty_questions_subset"]
    a = s["methods"]["archer"]
    assert a["precise_return"] == -6.0 and a["precise_ci95"] == pytest.approx(4.303 * 0.5 / math.sqrt(3))
    assert "precise_return" not in s["methods"]["ppo"]  # a missing seed: no figure rather than a biased one
    md = compare.summary_markdown({"twenty_questions_subset": s}, refs, {"preset": "t", "trajectories": 128,
                                                                        "seeds": [0, 1, 2]})
    assert "SFT start **-7.50**" in md
    assert "| archer | -5.00 | ± 0.00 | **-6.00** | ± 1.24 | -5.50, -6.00, -6.50 | 0.50 |" in md
    assert "| ppo | -6.00 | ± 0.00 | | | | 0.50 |" in md


def test_curves_png_is_written(tmp_path):
    rows = [_row("archer", s, t, -8 + t / 32) for s in (0, 1) for t in (0, 64, 128)]
    compare.plot_curves(rows, {"twenty_questions_subset": {"expert": -3.0, "random": -14.0}}, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_curve_limits_follow_the_means_and_references_not_the_bands():
    # One seed of "ppo" diverges: its band is huge, but the limits come from the means and the references.
    rows = [_row("archer", s, t, -8 + t / 64) for s in (0, 1, 2) for t in (0, 64, 128)]
    rows += [_row("ppo", s, t, -8.0 if s else -8.0 - t / 4) for s in (0, 1, 2) for t in (0, 64, 128)]

    def means(rows):  # as plot_curves collects them: every method's mean curve
        return [c[1] for m in ("archer", "ppo") for c in compare.mean_curve([r for r in rows if r["algo"] == m],
                                                                             compare.METRIC)]

    lo, hi = compare.curve_limits(means(rows), {"expert": -3.0, "random": -14.0}, margin=1.0)
    ppo_mean, ppo_band = compare.mean_ci([-40.0, -8.0, -8.0])  # at 128 trajectories
    assert (lo, hi) == (pytest.approx(ppo_mean - 1.0), -2.0) and ppo_mean - ppo_band < lo - 40
    rows += [_row("ppo", 3, 128, -200.0)]  # the mean at 128 moves to (-40 - 8 - 8 - 200) / 4 = -64
    assert compare.curve_limits(means(rows), {"expert": -3.0}, margin=1.0) == (-65.0, -2.0)


@pytest.mark.slow
def test_killed_comparison_resumes_without_redoing_finished_runs(tmp_path):
    out = tmp_path / "cmp"
    args = ["--methods", "bc", "--seeds", "0", "1", "--trajectories", "64", "--jobs", "1", "--out", str(out),
            "--no-progress", "--final-episodes", "16"]
    first = run(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    finished = out / "runs" / "twenty_questions_subset" / "bc"
    stamps = {p: p.stat().st_mtime for p in finished.glob("seed*/metrics.csv")}
    assert len(stamps) == 2
    evals = {p: p.stat().st_mtime for p in finished.glob("seed*/final_eval_16.json")}
    assert len(evals) == 2 and (out / "runs" / "twenty_questions_subset" / "final_eval_16.json").exists()
    # Simulate a comparison killed mid-way: seed 1 never finished.
    import shutil
    shutil.rmtree(finished / "seed1")
    second = run(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "1 finished run(s) skipped" in second.stdout
    assert (finished / "seed0" / "metrics.csv").stat().st_mtime == stamps[finished / "seed0" / "metrics.csv"]
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["seed"], r["trajectories"]) for r in rows} == {("0", "0"), ("0", "64"), ("1", "0"), ("1", "64")}
    assert (out / "summary.md").exists() and (out / "curves.png").exists()
    # The final evaluations: seed 0's kept, seed 1's redone; BC does not change the SFT actor, so both equal the start.
    assert (finished / "seed0" / "final_eval_16.json").stat().st_mtime == evals[finished / "seed0" / "final_eval_16.json"]
    summary = (out / "summary.md").read_text()
    assert "evaluated again over 16 sampled episodes" in summary and "final, 16 episodes" in summary


def test_critic_runs_wait_for_the_warm_up_and_long_runs_start_first():
    from baselines.compare import Background, next_run, start_key

    runs = [{"method": m, "seed": 0} for m in ("bc", "archer", "ppo", "chai")]
    queue = sorted(runs, key=start_key)
    assert [r["method"] for r in queue] == ["chai", "archer", "ppo", "bc"]
    assert next_run(queue, critic_ready=False)["method"] == "ppo"  # chai and archer wait for the critic
    assert next_run(queue, critic_ready=False)["method"] == "bc"
    assert next_run(queue, critic_ready=False) is None
    assert next_run(queue, critic_ready=True)["method"] == "chai"

    def boom():
        raise OSError("disk full")

    t = Background(boom)
    t.start()
    t.join()
    with pytest.raises(RuntimeError, match="critic warm-up failed: disk full"):
        t.check()


def test_greedy_per_target_table_is_the_mean_over_seeds_of_the_final_evaluation():
    rows = []
    for seed, banana in [(0, -20.0), (1, -10.0)]:
        rows.append({**_row("archer", seed, 0, -8.0), "eval_by_target": '{"Banana": -20.0, "Dog": -3.0}'})
        rows.append({**_row("archer", seed, 64, -6.0), "eval_by_target": f'{{"Banana": {banana}, "Dog": -2.0}}'})
    s = compare.summarize(rows, {})["twenty_questions_subset"]
    assert s["greedy_by_target"]["archer"] == {"Banana": -15.0, "Dog": -2.0}
    md = compare.summary_markdown({"twenty_questions_subset": s}, {}, {"preset": "t", "trajectories": 64, "seeds": [0, 1]})
    assert "| method | Banana | Dog |" in md and "| archer | -15.0 | -2.0 |" in md


def test_summary_names_each_method_s_resolved_config(tmp_path):
    from baselines.compare import resolved_algorithms, run_dir

    runs = [{"task": "t", "method": m, "seed": s} for m in ("archer", "ppo", "bc") for s in (0, 1)]
    p = {"out": str(tmp_path), "runs": runs}
    for run, algorithm in ((runs[0], {"actor_lr": 1e-4}), (runs[1], {"actor_lr": 1e-4}), (runs[3], {"lr": 3e-4})):
        d = run_dir(tmp_path, run)
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"algo": run["method"], "algorithm": algorithm}))
    # ppo's seed 0 never started: its seed 1 names it; bc has no run directory yet: left out
    assert resolved_algorithms(p) == {"t": {"archer": {"actor_lr": 1e-4}, "ppo": {"lr": 3e-4}}}


# --------------------------------------------------------------------------------------------- prompted reference
def finished_bc_run(out: Path) -> list[str]:
    """A comparison whose one run (bc, seed 0, 64 trajectories) has finished: its metrics are on disk, so compare.py
    skips the training and goes to the report. Returns the arguments of that comparison."""
    d = out / "runs" / "twenty_questions_subset" / "bc" / "seed0"
    d.mkdir(parents=True)
    compare.write_long_csv([{k: v for k, v in _row("bc", 0, t, -8.0).items() if k != "task"} for t in (0, 64)],
                           d / "metrics.csv")
    return ["--methods", "bc", "--seeds", "0", "--trajectories", "64", "--final-episodes", "0", "--no-progress",
            "--out", str(out)]


def test_prompted_llm_is_a_reference_kept_for_reruns(tmp_path, monkeypatch):
    pytest.importorskip("openai")
    from tests.stub_endpoint import StubServer

    out = tmp_path / "cmp"
    monkeypatch.setenv("STUB_KEY", "sekret-123")
    with StubServer() as server:
        argv = finished_bc_run(out) + ["--prompted", "stub-model", "--prompted-base-url", server.url,
                                       "--prompted-api-key-env", "STUB_KEY", "--prompted-episodes", "10"]
        assert compare.main(argv) == 0
        asked = len(server.requests)
        assert compare.main(argv) == 0  # a rerun reads the kept evaluation
        assert len(server.requests) == asked
    # 10 eval episodes walk the 10 targets once each; the stub names WORDS in order, so WORDS[j] is found at turn
    # j + 1 with return -j: 1 + 2 + ... + 10 = 55 requests, returns 0..-9 (mean -4.5, 95% CI 1.96 * 3.028 / sqrt 10)
    assert asked == 55
    md = (out / "summary.md").read_text()
    assert ("**prompted stub-model (not trained)**: -4.50 ± 1.88 (95% CI over its 10 episodes), success 1.00. "
            f"`stub-model` at {server.url}, temperature 0, max_tokens 64") in md
    kept = json.loads((out / "prompted_stub-model_twenty_questions_subset_10.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["twenty_questions_subset"]["prompted"] == kept
    assert kept["episodes"] == 10 and kept["mean_return"] == -4.5 and kept["success_rate"] == 1.0
    assert kept["sampling"]["model"] == "stub-model" and kept["sampling"]["base_url"] == server.url
    assert kept["sampling"]["temperature"] == 0.0 and kept["split"] == "eval"
    assert summary["summary"]["twenty_questions_subset"]["threshold"] == -5.5  # the expert's, not the LLM's
    for path in out.glob("*.json"):
        assert "sekret" not in path.read_text(), path
    # The plot's reference line, labelled as not trained and inside the panel's limits.
    lines = compare.reference_lines(summary["references"]["twenty_questions_subset"], kept)
    assert lines[-1] == ("prompted stub-model (not trained) -4.5", -4.5, "-.", "black", "right")
    assert [label.split()[0] for label, *_ in lines[:2]] == ["expert", "random"]
    # A report with the endpoint gone: it reads the kept evaluation and asks nothing.
    (out / "summary.md").unlink()
    compare.report(json.loads((out / "config.json").read_text()))
    assert (out / "summary.md").read_text() == md


@pytest.mark.parametrize("args, message", [
    (["--prompted-base-url", "http://127.0.0.1:9/v1"], "error: --prompted-base-url needs --prompted MODEL"),
    (["--prompted-episodes", "5"], "error: --prompted-episodes needs --prompted MODEL"),
    (["--prompted", "m", "--prompted-api-key-env", "ARCHER_TEST_UNSET_VAR"],
     "error: --prompted-api-key-env ARCHER_TEST_UNSET_VAR: that environment variable is not set"),
    (["--prompted", " "], "error: --prompted needs a model name"),
    (["--prompted", "m", "--prompted-episodes", "0"], "argument --prompted-episodes: 0 must be >= 1"),
])
def test_bad_prompted_arguments_are_one_line_usage_errors(tmp_path, capsys, monkeypatch, args, message):
    pytest.importorskip("openai")
    monkeypatch.delenv("ARCHER_TEST_UNSET_VAR", raising=False)
    with pytest.raises(SystemExit) as e:
        compare.main(args + ["--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x").exists()


def test_an_unreachable_prompted_endpoint_is_a_one_line_usage_error_before_any_run(tmp_path, capsys):
    pytest.importorskip("openai")
    from tests.loopback import free_port

    port = free_port()  # nothing listens there
    out = tmp_path / "cmp"
    argv = ["--methods", "bc", "--seeds", "0", "--trajectories", "64", "--no-progress", "--out", str(out),
            "--prompted", "m", "--prompted-base-url", f"http://127.0.0.1:{port}/v1", "--prompted-episodes", "1"]
    with pytest.raises(SystemExit) as e:
        compare.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"error: --prompted m: agent endpoint http://127.0.0.1:{port}/v1 failed after 5 attempts" in err, err
    assert not (out / "runs").exists() and not list(out.glob("prompted_*"))  # no run started, nothing kept
