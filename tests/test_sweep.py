"""baselines/sweep.py: every method gets the same number of configurations; the winner is the best late mean."""

import argparse
import json

import pytest

from baselines import sweep


def test_every_tuned_method_gets_three_configurations_around_its_default():
    from agents.algos import default_config

    counts = {}
    for method, _, overrides in sweep.variants("tuning", list(sweep.GRID)):
        counts[method] = counts.get(method, 0) + 1
        for key, value in overrides.items():
            assert hasattr(default_config(method), key)
    assert counts == {"archer": 3, "archer_baseline": 3, "ppo": 3, "filtered_bc": 3, "chai": 3, "bc": 1, "grpo": 3,
                      "rloo": 3, "turn_grpo": 3, "gigpo": 3}
    for method, (key, values) in sweep.GRID.items():
        if key:  # the middle value is the method's default
            assert getattr(default_config(method), key) == values[1]


def test_score_picks_the_best_late_mean(tmp_path, monkeypatch):
    a = argparse.Namespace(grid="tuning", methods=["ppo"], seeds=[0, 1], trajectories=512, jobs=1, out=str(tmp_path))
    p = sweep.sweep_plan(a)
    late = {"ppo-lr=0.0001": -7.0, "ppo-lr=0.0003": -5.0, "ppo-lr=0.001": -6.0}

    def rows(path):
        v = path.parent.parent.name
        return [{"trajectories": str(t), "eval_sampled_return": str(-8.0 if t <= 128 else late[v]), "eval_return": "-5"}
                for t in (0, 128, 256, 512)]

    monkeypatch.setattr(sweep.compare, "read_rows", rows)
    res = sweep.score(p)
    assert res["best"] == {"ppo": "ppo-lr=0.0003"}
    assert res["variants"]["ppo-lr=0.0003"]["late"] == [-5.0, -5.0]
    assert "**ppo-lr=0.0003**" in sweep.sweep_markdown(res, p)


def test_variants_filter_runs_only_the_named_ablation_variants(tmp_path):
    a = argparse.Namespace(grid="ablation", methods=list(sweep.GRID), seeds=[0, 1], trajectories=512, jobs=1,
                           out=str(tmp_path), variants=["archer-rollout-td", "archer-critic50"])
    p = sweep.sweep_plan(a)
    assert sorted({r["variant"] for r in p["runs"]}) == ["archer-critic50", "archer-rollout-td"]
    assert len(p["runs"]) == 4
    td = next(r for r in p["runs"] if r["variant"] == "archer-rollout-td")
    assert td["algo_args"]["actor_data"] == "rollout" and td["algo_args"]["advantage"] == "td"
    # The ablation runs on ArCHer's defaults, not on tuned.json's winners: a rerun reproduces docs/results/ablation.md.
    assert all(set(r["algo_args"]) <= {"actor_data", "advantage", "critic_updates", "warmup_iterations"}
               for r in p["runs"])
    a.variants = ["archer-nope"]
    import pytest
    with pytest.raises(SystemExit, match="unknown variant"):
        sweep.sweep_plan(a)


def test_a_configuration_stopped_before_the_budget_is_listed_but_never_chosen(tmp_path, monkeypatch):
    a = argparse.Namespace(grid="tuning", methods=["chai"], seeds=[0, 1], trajectories=512, jobs=1, out=str(tmp_path))
    p = sweep.sweep_plan(a)
    late = {"chai-k=3": -6.0, "chai-k=5": -7.0, "chai-k=10": -1.0}  # k=10 looks best but stopped at 256

    def rows(path):
        v = path.parent.parent.name
        stop = 256 if v == "chai-k=10" else 512
        return [{"trajectories": str(t), "eval_sampled_return": str(late[v]), "eval_return": "-5"}
                for t in (0, 128, 256, 384, 512) if t <= stop]

    monkeypatch.setattr(sweep.compare, "read_rows", rows)
    res = sweep.score(p)
    assert res["best"] == {"chai": "chai-k=3"}
    assert not res["variants"]["chai-k=10"]["complete"] and res["variants"]["chai-k=3"]["complete"]
    assert "chai-k=10 (stopped at 256 trajectories on 2 seed(s); not chosen)" in sweep.sweep_markdown(res, p)


def test_write_tuned_replaces_the_swept_methods_and_keeps_the_others(tmp_path, monkeypatch):
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps({"source": "the first sweep", "archer_note": "kept",
                                "algo_args": {"archer": {"actor_lr": 1e-4}, "grpo": {"lr": 1e-4}}}))
    monkeypatch.setattr(sweep, "TUNED_PATH", path)
    res = {"best": {"grpo": "grpo-lr=0.0003"},
           "variants": {"grpo-lr=0.0003": {"method": "grpo", "algo_args": {"lr": 3e-4}}}}
    a = argparse.Namespace(methods=["grpo", "rloo"], out="results/sweep_group")
    merged = sweep.merge_tuned(res, a)
    assert merged["algo_args"] == {"archer": {"actor_lr": 1e-4}, "grpo": {"lr": 3e-4}}
    assert merged["archer_note"] == "kept" and merged["source"] == "the first sweep"
    assert merged["sources"] == {"grpo": "python baselines/sweep.py --methods grpo rloo --out results/sweep_group"}


@pytest.mark.parametrize("finals, label", [("finals.json", "hierarchical (TurnCritic)"),
                                           ("ema4500/finals.json", "hierarchical, 4,500 steps, weight average")])
def test_the_turn_critic_tables_figures_come_from_its_committed_finals(finals, label):
    """docs/results/turn_critic/README.md's rows for the hierarchical critic are their finals.json, recomputed."""
    from pathlib import Path

    from baselines.compare import mean_ci

    d = Path(__file__).resolve().parent.parent / "docs" / "results" / "turn_critic"
    finals = json.loads((d / finals).read_text())
    assert [r["episodes"] for r in finals] == [500, 500, 500] and not any(r["greedy"] for r in finals)
    values = [r["mean_return"] for r in finals]
    mean, ci = mean_ci(values)
    row = f"| {label} | **{mean:.2f} ± {ci:.2f}** | {', '.join(f'{v:.2f}' for v in values)} |"
    assert row in (d / "README.md").read_text()
