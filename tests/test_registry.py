"""The one table of algorithms (agents/algos/registry.py) and what is derived from it."""

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from agents import algos
from agents.algos import ALGOS, build_algorithm, default_config, register, spec
from agents.algos.registry import _SPECS, load_plugins
from agents.train import build_parser
from baselines import compare, presets, sweep

BUILT_IN = ("archer", "archer_baseline", "ppo", "filtered_bc", "chai", "bc")


def test_built_in_table_keeps_the_names_order_and_defaults_of_before():
    assert ALGOS[: len(BUILT_IN)] == BUILT_IN
    assert default_config("archer_baseline").token_baseline is True  # ArCHer with the token-level baseline
    assert default_config("archer").token_baseline is False
    # the quick/paper comparisons: these by default (archer_baseline, ArCHer's own variant, on request only)
    assert presets.default_methods() == [m for m in BUILT_IN if m != "archer_baseline"] + ["grpo", "rloo", "turn_grpo",
                                                                                          "gigpo"]
    # The discount's place in each config, as the paper preset's per-task gamma was set before the table.
    built_in_gamma = {n: f for n, f in presets.GAMMA_FIELD.items() if n in BUILT_IN}
    assert built_in_gamma == {"archer": "gamma", "archer_baseline": "gamma", "ppo": "gamma", "chai": "critic.gamma"}
    assert {n for n in BUILT_IN if spec(n).critic_warmup} == {"archer", "archer_baseline", "chai"}
    assert {n for n in BUILT_IN if spec(n).uses_buffer} == {"archer", "archer_baseline", "filtered_bc", "chai"}
    assert sorted(BUILT_IN, key=lambda m: -spec(m).cost) == ["chai", "archer_baseline", "archer", "ppo",
                                                             "filtered_bc", "bc"]
    assert list(sweep.GRID) == list(BUILT_IN) + ["grpo", "rloo", "turn_grpo", "gigpo"]  # every built-in is tuned


def test_paper_preset_sets_each_methods_own_gamma_field():
    a = compare.build_parser().parse_args(["--preset", "paper", "--tasks", "webshop", "--out", "/tmp/unused"])
    by_method = {r["method"]: r["algo_args"] for r in compare.plan(a)["runs"]}
    assert by_method["chai"]["critic.gamma"] == 0.9 and by_method["ppo"]["gamma"] == 0.9
    assert "gamma" not in by_method["filtered_bc"] and by_method["bc"] == {}


def test_cli_choices_are_the_table():
    action = next(a for a in build_parser()._actions if a.dest == "algo")
    assert tuple(action.choices) == algos.ALGOS  # read live: other tests may have loaded a plugin


def test_unknown_algorithm_and_bad_plugin_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="unknown algorithm 'dqn'; choose one of archer, archer_baseline"):
        spec("dqn")
    with pytest.raises(ValueError, match="plugin file '.*nope.py' does not exist"):
        load_plugins([str(tmp_path / "nope.py")])
    with pytest.raises(ValueError, match="plugin 'no_such_module_x': no such module"):
        load_plugins(["no_such_module_x"])
    with pytest.raises(SystemExit, match="plugin file 'missing.py' does not exist"):
        compare.plan(argparse.Namespace(preset="quick", tasks=None, methods=["ppo"], seeds=None, trajectories=None,
                                        device=None, jobs=None, threads=1, out=str(tmp_path), plugin=["missing.py"]))


def test_register_checks_the_spec_where_it_enters():
    @dataclasses.dataclass
    class Cfg:
        lr: float = 1.0

    class Algo:
        pass

    with pytest.raises(TypeError, match="needs a group_size field"):
        register("x_groups", Cfg, episode_groups=True)(Algo)
    with pytest.raises(ValueError, match="gamma='gamma' is not a field path of Cfg"):
        register("x_gamma", Cfg)(Algo)
    with pytest.raises(ValueError, match="defaults \\['lrr'\\] are not fields of Cfg"):
        register("x_defaults", Cfg, gamma=None, defaults={"lrr": 2.0})(Algo)
    with pytest.raises(ValueError, match="'ppo' is already registered by agents.algos.ppo.PPO"):
        register("ppo", Cfg, gamma=None)(Algo)
    from agents.algos.ppo import PPO

    # Nothing refused was registered, and the refused duplicate left ppo's entry as it was (the class itself, not a
    # class that happens to share its name).
    assert not {"x_groups", "x_gamma", "x_defaults"} & set(_SPECS) and spec("ppo").cls is PPO


def test_a_plugin_file_registers_and_every_list_sees_it(tmp_path, actor):  # noqa: F811
    plugin = tmp_path / "my_algo.py"
    plugin.write_text(
        "from dataclasses import dataclass\n"
        "from agents.algos import register\n"
        "from agents.algos.bc import BC\n"
        "@dataclass\nclass MyConfig:\n    gamma: float = 0.9\n"
        "@register('my_test_algo', MyConfig)\nclass Mine(BC):\n"
        "    def update(self, episodes, buffer, iteration):\n        return {'mine': self.cfg.gamma}\n")
    try:
        load_plugins([str(plugin)])
        load_plugins([str(plugin)])  # a second load is a no-op, not a duplicate registration
        assert "my_test_algo" in algos.ALGOS and "my_test_algo" in presets.METHODS
        assert "my_test_algo" not in presets.default_methods()
        assert "my_test_algo" in next(a for a in build_parser()._actions if a.dest == "algo").choices
        algo = build_algorithm("my_test_algo", actor, default_config("my_test_algo"), None, seed=0)
        assert algo.update([], None, iteration=0) == {"mine": 0.9}  # the plugin's own code, with its config
        a = compare.build_parser().parse_args(["--methods", "ppo", "my_test_algo", "--plugin", str(plugin),
                                               "--out", str(tmp_path / "o")])
        runs = compare.plan(a)["runs"]
        assert {r["method"] for r in runs} == {"ppo", "my_test_algo"}
        cmd = compare.command(runs[-1], tmp_path / "o", 1)
        launch = json.loads(Path(cmd[cmd.index("--config") + 1]).read_text())  # the run's whole TrainConfig
        assert launch["plugins"] == [str(plugin)] and launch["algo"] == "my_test_algo"
    finally:
        _SPECS.pop("my_test_algo", None)


from tests.test_agents import actor, cache  # noqa: E402,F401 (fixtures)
