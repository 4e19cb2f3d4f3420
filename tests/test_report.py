"""``--report-to wandb`` (issue 16, item 5): the metrics rows go to Weights & Biases only when asked, wandb imported
only then. Checked against a stand-in wandb module (always), and with the real one in offline mode where it is
installed (it is not a dependency)."""

from __future__ import annotations

import csv
import json
import sys
import types

import pytest

from agents import train as train_cli
from agents.reporting import wandb_run
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)

ENV = "archer/ToyColour-v0"


def argv(out, *extra):
    return ["--env", ENV, "--algo", "ppo", "--trajectories", "16", "--rollout-trajectories", "16", "--num-envs", "8",
            "--eval-every", "16", "--eval-episodes", "2", "--sft-episodes", "200", "--sft-epochs", "2",
            "--threads", "1", "--no-progress", "--out", str(out), *extra]


class FakeRun:
    def __init__(self, **kwargs):
        self.init, self.logged, self.finished = kwargs, [], False

    def log(self, data, step):
        self.logged.append((step, dict(data)))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "cache"))
    runs = []
    module = types.ModuleType("wandb")
    module.init = lambda **kw: runs.append(FakeRun(**kw)) or runs[-1]
    module.Table = lambda columns, data: {"columns": columns, "data": data}
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def test_rows_go_to_wandb_against_trajectories(fake_wandb, tmp_path):
    out = tmp_path / "run"
    assert train_cli.main(argv(out, "--report-to", "wandb")) == 0
    (run,) = fake_wandb
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tag = "episodes/eval_greedy_0"
    scalars = [(step, data) for step, data in run.logged if tag not in data]
    tables = [(step, data[tag]) for step, data in run.logged if tag in data]
    assert [step for step, _ in scalars] == [int(r["trajectories"]) for r in rows] == [0, 16]
    # each evaluation's first greedy episode, turn by turn, as a W&B Table (PPO: no critic, so no Q, V, A)
    assert [step for step, _ in tables] == [0, 16]
    for _, table in tables:
        assert table["columns"] == ["turn", "utterance", "reply", "reward"]
        assert [r[0] for r in table["data"]] == list(range(1, len(table["data"]) + 1)) and table["data"]
    for (_, data), row in zip(scalars, rows):
        assert data["eval_return"] == pytest.approx(float(row["eval_return"]))
        assert "eval_by_target" not in data and "seed" not in data  # text and identity columns stay in the CSV
    assert run.finished
    assert run.init["config"] == json.loads((out / "config.json").read_text())
    assert run.init["dir"] == str(out) and run.init["resume"] == "allow"
    # a resumed run continues the same W&B run: the id is kept in the run directory
    assert (out / "wandb_id").read_text().strip() == run.init["id"]
    from agents.config import TrainConfig
    again = wandb_run(out, TrainConfig.from_dict(json.loads((out / "config.json").read_text())))
    assert again.init["id"] == run.init["id"]


def test_wandb_is_not_imported_unless_asked(fake_wandb, tmp_path):
    assert train_cli.main(argv(tmp_path / "run")) == 0
    assert fake_wandb == [] and not (tmp_path / "run" / "wandb_id").exists()


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (optional: pip install wandb); the stand-in test "
                                        "above covers the trainer's side")
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    assert train_cli.main(argv(out, "--report-to", "wandb")) == 0
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith((out / "wandb_id").read_text().strip())
