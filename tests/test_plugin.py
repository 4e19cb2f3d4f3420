"""A user's algorithm from its own file (examples/reinforce.py) through the real trainer and CLI: it learns
(the actor moves), and a run stopped and resumed equals the uninterrupted one, its moving baseline included."""

import math
from pathlib import Path

import torch

from agents import algos
from agents.train import build_parser, config_from_args, load_plugins_of
from agents.trainer import TrainConfig, Trainer
from tests.test_agents import ENV, cache, sft_cfg  # noqa: F401 (fixture)

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "reinforce.py")


def _cfg(tmp_path, name):
    return TrainConfig(algo="reinforce", env_id=ENV, trajectories=64, rollout_trajectories=16, num_envs=8,
                       eval_every=32, eval_episodes=8, out=str(tmp_path / name), sft=sft_cfg(),
                       plugins=[EXAMPLE], algo_config={"minibatch_size": 16})


def _strip(rows):  # wall-clock differs; NaN compares unequal to itself
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items() if not k.endswith("seconds")}
            for r in rows]


def test_example_plugin_trains_and_resumes_exactly(cache, tmp_path):  # noqa: F811
    full = Trainer(_cfg(tmp_path, "full"), progress=False)
    sft = {k: v.clone() for k, v in full.algo.actor.model.state_dict().items()}
    full_rows = full.train()
    moved = [k for k, v in full.algo.actor.model.state_dict().items() if not torch.equal(v, sft[k])]
    assert len(moved) > 0.9 * len(sft)  # the actor changed (nearly every tensor; tied/frozen ones aside)
    assert all(math.isfinite(r["pg_loss"]) for r in full_rows[1:])
    assert float(full.algo.stats.seen) == 4  # one baseline update per iteration

    part = Trainer(_cfg(tmp_path, "part"), progress=False)
    part.train(max_iterations=3)
    assert part.counts.trajectories == 48
    resumed = Trainer(_cfg(tmp_path, "part"), resume=True, progress=False)
    assert float(resumed.algo.stats.seen) == 3  # the baseline came back from the checkpoint
    resumed_rows = resumed.train()
    assert _strip(resumed_rows) == _strip(full_rows)
    assert [r["trajectories"] for r in full_rows] == [0, 32, 64]
    assert float(resumed.algo.stats.baseline) == float(full.algo.stats.baseline)
    for k, v in full.algo.actor.model.state_dict().items():
        assert torch.equal(v, resumed.algo.actor.model.state_dict()[k]), k


def test_cli_loads_the_plugin_before_it_reads_the_algorithm(tmp_path):
    argv = ["--plugin", EXAMPLE, "--algo", "reinforce", "--env", ENV, "--trajectories", "64",
            "--algo-arg", "baseline_decay=0.5", "--out", str(tmp_path / "x")]
    load_plugins_of(argv)
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.algo == "reinforce" and cfg.plugins == [EXAMPLE]
    assert cfg.algorithm_config().baseline_decay == 0.5
    assert "reinforce" in algos.ALGOS
