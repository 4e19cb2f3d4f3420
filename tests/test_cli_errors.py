"""Every bad command-line input to the six entry points is ONE line on stderr and exit status 2 (argparse's
convention), never a traceback (issue 15, item 5). Cases are the classes of bad input: unknown names, out-of-range
and non-numeric numbers, paths that are files or missing, malformed and ill-typed --algo-arg, a run directory
that cannot be resumed."""

import pytest

import archer_gym.__main__ as gym_cli
from agents import evaluate as eval_cli
from agents import sft as sft_cli
from agents import train as train_cli
from agents import view as view_cli
from baselines import compare as compare_cli
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)

ENV = "archer/ToyColour-v0"
TQ = "archer/TwentyQuestionsSubset-v0"

# (entry point, argv, a fragment the message must hold: the offending value or key)
CASES = [
    # agents.train: names
    (train_cli, ["--env", "archer/Nope-v0"], "archer/Nope-v0"),
    (train_cli, ["--algo", "dqn"], "dqn"),
    (train_cli, ["--device", "tpu"], "tpu"),
    (train_cli, ["--dtype", "float16"], "float16"),
    # budgets and sizes: zero, negative, not a number, less than one iteration
    (train_cli, ["--trajectories", "0"], "0"),
    (train_cli, ["--trajectories", "-5"], "-5"),
    (train_cli, ["--trajectories", "abc"], "abc"),
    (train_cli, ["--trajectories", "10", "--rollout-trajectories", "64"], "less than one iteration"),
    (train_cli, ["--rollout-trajectories", "0"], "0"),
    (train_cli, ["--num-envs", "-1"], "-1"),
    (train_cli, ["--eval-every", "0"], "0"),
    (train_cli, ["--eval-episodes", "0"], "0"),
    (train_cli, ["--temperature", "0"], "0"),
    (train_cli, ["--temperature", "nan"], "nan"),
    (train_cli, ["--threads", "-1"], "-1"),
    (train_cli, ["--lora-r", "-1"], "-1"),
    (train_cli, ["--max-new-tokens", "0"], "0"),
    (train_cli, ["--sft-lr=-1e-3"], "-1e-3"),
    (train_cli, ["--sft-expert-prob", "2"], "expert_prob"),
    (train_cli, ["--sft-episodes", "0"], "0"),
    # paths
    (train_cli, ["--out", "{file}"], "is a file"),
    (train_cli, ["--actor", "./no/such/actor"], "./no/such/actor"),
    (train_cli, ["--actor", "/no/such/model.gguf"], "model.gguf"),
    # --algo-arg: malformed, unknown key, ill-typed value (the key is named)
    (train_cli, ["--algo-arg", "gamma"], "KEY=VALUE"),
    (train_cli, ["--algo-arg", "=0.9"], "KEY=VALUE"),
    (train_cli, ["--algo-arg", "gama=0.9"], "gama"),
    (train_cli, ["--algo-arg", "gamma=abc"], "gamma"),
    (train_cli, ["--algo-arg", "gamma=nan"], "gamma"),
    (train_cli, ["--algo-arg", "gamma.x=1"], "gamma"),
    (train_cli, ["--algo-arg", "batch_size=1.5"], "batch_size"),
    (train_cli, ["--algo", "ppo", "--algo-arg", "normalize_advantages=maybe"], "normalize_advantages"),
    # a run that cannot be resumed
    (train_cli, ["--resume", "--out", "{lost_run}"], "no checkpoint"),
    (train_cli, ["--out", "{crashed_run}"], "--resume"),
    (train_cli, ["--report-to", "mlflow"], "mlflow"),
    (train_cli, ["--config", "{lost_run}/no_such.json"], "no such file"),
    (train_cli, ["--config", "{lost_run}/metrics.csv"], "not JSON"),
    (train_cli, ["--config", "{bad_config}"], "unexpected keyword argument 'learning_rate'"),
    (train_cli, ["--config", "{bad_config}", "--seed", "3", "--seed-buffer"], "--seed-buffer, --seed would be ignored"),
    # agents.sft
    (sft_cli, ["--env", "archer/Nope-v0"], "archer/Nope-v0"),
    (sft_cli, ["--episodes", "0"], "0"),
    (sft_cli, ["--epochs", "-2"], "-2"),
    (sft_cli, ["--expert-prob", "1.5"], "expert_prob"),
    (sft_cli, ["--eval-episodes", "-1"], "-1"),
    (sft_cli, ["--out", "{file}"], "is a file"),
    (sft_cli, ["--actor", "./no/such/actor"], "./no/such/actor"),
    # baselines/compare.py
    (compare_cli, ["--preset", "huge"], "huge"),
    (compare_cli, ["--tasks", "chess"], "chess"),
    (compare_cli, ["--methods", "dqn"], "dqn"),
    (compare_cli, ["--seeds", "1", "1"], "distinct"),
    (compare_cli, ["--seeds", "x"], "x"),
    (compare_cli, ["--trajectories", "0"], "0"),
    (compare_cli, ["--trajectories", "1"], "smaller than one iteration"),
    (compare_cli, ["--jobs", "0"], "0"),
    (compare_cli, ["--threads", "0"], "0"),
    (compare_cli, ["--out", "{file}"], "is a file"),
    # python -m archer_gym
    (gym_cli, [], "required"),
    (gym_cli, ["fly"], "fly"),
    (gym_cli, ["play", "archer/Nope-v0"], "archer/Nope-v0"),
    (gym_cli, ["play", ENV, "--policy", "genius"], "genius"),
    (gym_cli, ["play", ENV, "--split", "test"], "test"),
    (gym_cli, ["evaluate", ENV, "--episodes", "0"], "0"),
    (gym_cli, ["evaluate", ENV, "--policy", "genius"], "genius"),
    (gym_cli, ["evaluate", ENV, "--seed", "x"], "x"),
    (gym_cli, ["serve-oracle", "--task", "chess"], "chess"),
    (gym_cli, ["serve-oracle"], "--task"),
    (gym_cli, ["serve-oracle", "--task", "twenty_questions", "--port", "70000"], "70000"),
    (gym_cli, ["serve-oracle", "--task", "twenty_questions", "--oracle", "hf"], "--model"),
    (gym_cli, ["serve-oracle", "--task", "twenty_questions", "--max-new-tokens", "0"], "0"),
]
CASES += [
    (eval_cli, ["{file}"], "not a training run"),
    (eval_cli, ["{lost_run}"], "no config.json"),
    (eval_cli, ["{lost_run}", "--episodes", "0"], "0"),
    # python -m agents.view
    (view_cli, [], "required"),
    (view_cli, ["{file}"], "not a training run"),
    (view_cli, ["./no/such/run"], "./no/such/run"),
    (view_cli, ["{lost_run}"], "no config.json"),
    (view_cli, ["{no_checkpoint_run}"], "has no checkpoint"),
    (view_cli, ["{lost_run}", "--episodes", "0"], "0"),
    (view_cli, ["{lost_run}", "--episodes", "x"], "x"),
    (view_cli, ["{lost_run}", "--out", "{lost_run}"], "is a directory"),
    (view_cli, ["{lost_run}", "--out", "{file}/page.html"], "is not a directory"),
]
PROGS = {eval_cli: "python -m agents.evaluate", train_cli: "python -m agents.train", sft_cli: "python -m agents.sft",
         compare_cli: "python baselines/compare.py", gym_cli: "python -m archer_gym",
         view_cli: "python -m agents.view"}


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "a_file"
    file.write_text("not a directory")
    lost = tmp_path / "lost_run"  # metrics and config of a run, its checkpoint gone
    lost.mkdir()
    (lost / "metrics.csv").write_text("iteration\n0\n")
    crashed = tmp_path / "crashed_run"  # only checkpoint.old/ survived a crash mid-save
    (crashed / "checkpoint.old").mkdir(parents=True)
    no_ckpt = tmp_path / "no_checkpoint_run"  # a run's config, no checkpoint was ever written
    no_ckpt.mkdir()
    (no_ckpt / "config.json").write_text("{}")
    bad_config = tmp_path / "bad_config.json"  # a TrainConfig JSON with a field it does not have
    bad_config.write_text('{"algo": "ppo", "learning_rate": 0.1}')
    return {"file": file, "lost_run": lost, "crashed_run": crashed, "no_checkpoint_run": no_ckpt,
            "bad_config": bad_config}


@pytest.mark.parametrize("module,argv,fragment", CASES,
                         ids=[f"{PROGS[m].split()[-1]}:{' '.join(a) or '(none)'}" for m, a, _ in CASES])
def test_bad_input_is_one_line_and_status_2(module, argv, fragment, paths, capsys):
    argv = [a.format(**paths) for a in argv]
    if module in (train_cli, sft_cli) and "--env" not in argv and "--config" not in argv:
        argv = ["--env", ENV] + argv
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exc.value.code == 2, err
    assert len(lines) == 1, err
    prog = PROGS[module]
    assert lines[0].startswith(prog) and ": error: " in lines[0], lines[0]
    assert fragment in lines[0], lines[0]


def test_report_to_wandb_without_wandb_is_one_line(paths, capsys, monkeypatch):
    """Asked for W&B where it is not installed: one line naming the fix, before any model is built."""
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError, installed or not
    with pytest.raises(SystemExit) as exc:
        train_cli.main(["--env", ENV, "--report-to", "wandb", "--out", str(paths["file"].parent / "w")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("python -m agents.train: error: ") and "pip install wandb" in lines[0]
    assert not (paths["file"].parent / "w").exists()


def test_every_config_field_is_an_option_of_agents_train():
    """The CLI is built from TrainConfig's, ModelConfig's and SFTConfig's fields (archer_gym.cli.add_config_options):
    every field is reachable, including those no hand-written flag named before (start_episodes, critic_head_hidden,
    the tiny sizes, sft batch size)."""
    import dataclasses

    from agents.models import ModelConfig
    from agents.sft import SFTConfig
    from agents.train import TRAIN_GIVEN, build_parser, config_from_args
    from agents.config import TrainConfig

    p = build_parser()
    flags = {s for a in p._actions for s in a.option_strings}
    for cls, prefix, skip in ((TrainConfig, "", TRAIN_GIVEN), (ModelConfig, "", ()), (SFTConfig, "sft-", ("env_id", "model"))):
        for f in dataclasses.fields(cls):
            if f.name not in skip:
                assert f"--{prefix}{f.name.replace('_', '-')}" in flags, (cls.__name__, f.name)
    cfg = config_from_args(p.parse_args([
        "--algo", "ppo", "--env", "archer/ToyColour-v0", "--start-episodes", "10", "--no-eval-sampled",
        "--critic-head-hidden", "32", "--tiny-embd", "32", "--chat-template", "off", "--bf16",
        "--sft-batch-size", "8", "--sft-lr", "3e-4", "--algo-arg", "lr=1e-5", "--trajectories", "128"]))
    assert (cfg.algo, cfg.env_id, cfg.start_episodes, cfg.eval_sampled, cfg.trajectories) == \
        ("ppo", "archer/ToyColour-v0", 10, False, 128)
    assert (cfg.model.critic_head_hidden, cfg.model.tiny_embd, cfg.model.chat_template, cfg.model.bf16) == (32, 32, False, True)
    assert (cfg.sft.batch_size, cfg.sft.lr, cfg.sft.env_id, cfg.sft.model) == (8, 3e-4, "archer/ToyColour-v0", cfg.model)
    assert cfg.algo_config == {"lr": "1e-5"}
    # no flags: the dataclasses' own defaults
    d = config_from_args(p.parse_args([]))
    assert (d.model, d.sft.episodes, d.trajectories) == (ModelConfig(), SFTConfig().episodes, TrainConfig().trajectories)


def test_a_new_config_field_is_an_option_with_no_edit():
    import argparse
    from dataclasses import dataclass

    from archer_gym.cli import add_config_options, config_from_options

    @dataclass
    class Demo:
        """A config.

        rate / depth: two sizes, described
            over two lines.
        flag: a switch.
        """
        rate: float = 0.5
        depth: int = 3
        flag: bool = False
        name: str = "x"

    p = argparse.ArgumentParser()
    add_config_options(p, Demo, prefix="demo-")
    helps = {a.dest: a.help for a in p._actions}
    assert helps["demo_rate"] == helps["demo_depth"] == "two sizes, described over two lines."
    assert helps["demo_name"] == "Demo.name"
    got = config_from_options(Demo, p.parse_args(["--demo-depth", "7", "--demo-flag"]), prefix="demo-")
    assert got == Demo(depth=7, flag=True)
    with pytest.raises(SystemExit):
        p.parse_args(["--demo-depth", "seven"])


def test_train_config_file_round_trips_what_compare_launches(tmp_path):
    """compare.py hands each run its TrainConfig as one object (``--config launch.json``, no argv round trip); the run
    reads exactly that config back, and ``--out`` given beside ``--config`` moves it."""
    from agents.config import jsonable
    from agents.train import build_parser, config_from_args
    from baselines import compare

    a = compare.build_parser().parse_args(["--methods", "archer", "--seeds", "3", "--out", str(tmp_path / "o")])
    run = compare.plan(a)["runs"][0]
    cmd = compare.command(run, tmp_path / "o", 1)
    assert cmd[-3:] == ["--config", str(compare.run_dir(tmp_path / "o", run) / "launch.json"), "--no-progress"]
    cfg = compare.run_config(run, tmp_path / "o", 1)
    read = config_from_args(build_parser().parse_args(cmd[3:]))
    assert jsonable(read) == jsonable(cfg)
    assert (read.algo, read.seed, read.trajectories, read.threads) == ("archer", 3, 512, 1)
    assert read.algo_config == {k: str(v) for k, v in run["algo_args"].items()} and read.algo_config  # tuned.json
    moved = config_from_args(build_parser().parse_args(cmd[3:] + ["--out", str(tmp_path / "elsewhere")]))
    assert moved.out == str(tmp_path / "elsewhere") and moved.seed == 3
